//! Keeping a world file: an advisory lock that serialises writers, and an atomic replace.
//!
//! Owns only file mechanics: it knows nothing of what a world holds or who may change it.
//! A writer takes [`lock`] before it reads the world and keeps it until [`write_atomic`] has
//! renamed the new file into place, so concurrent `apply --write` runs never lose an update.

use fs4::fs_std::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The file a world path names: the target of a symbolic link (followed to the end, once),
/// else the path itself. Lock and write both act on it, so writers that name the link and
/// writers that name the real file are serialised by the same lock, and the link stays a link.
pub fn resolve(world: &Path) -> PathBuf {
    match fs::symlink_metadata(world) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(world).unwrap_or_else(|_| world.to_path_buf())
        }
        _ => world.to_path_buf(),
    }
}

/// The lock file of a world: `NAME.lock` beside the file it resolves to. It is left in place
/// after use: removing it would let a waiting writer lock a file that a newcomer no longer sees.
pub fn lock_path(world: &Path) -> PathBuf {
    let world = resolve(world);
    let mut name = world
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "world".into());
    name.push(".lock");
    world.with_file_name(name)
}

/// An exclusive advisory lock on a world's lock file, released when dropped.
#[derive(Debug)]
pub struct WorldLock {
    file: File,
}

impl Drop for WorldLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// Open without following a symbolic link at the last component: a link planted where the
/// lock file goes must not make keyward create or truncate whatever it points at.
fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o
}

/// Wait for and take the exclusive lock of a world file.
pub fn lock(world: &Path) -> io::Result<WorldLock> {
    let path = lock_path(world);
    let file = no_follow(
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .open(&path)?;
    FileExt::lock_exclusive(&file)?;
    Ok(WorldLock { file })
}

/// Temporary files of keyward's own naming (`.NAME.PID.N.tmp`) beside `name` whose process
/// is gone: left by a writer that was killed between writing and renaming.
fn stale_temporaries(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let rest = file.strip_prefix(&prefix)?.strip_suffix(".tmp")?;
            let (pid, n) = rest.split_once('.')?;
            let pid: u32 = pid.parse().ok()?;
            n.parse::<u64>().ok()?;
            let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
            (!alive).then(|| e.path())
        })
        .collect()
}

/// Replace the file `path` resolves to with `contents` atomically: write a temporary file in
/// the same folder with the old file's mode and owner, fsync it, rename it over the target,
/// then fsync the folder. Readers see the old file or the new one, never a mix; a failure
/// leaves the old file as it was. A read-only file is refused, not rewritten; stale
/// temporaries of earlier, killed writers are removed first.
pub fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let target = resolve(path);
    let old = fs::metadata(&target).ok();
    if old.as_ref().is_some_and(|m| m.permissions().readonly()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is read-only: keyward does not rewrite a read-only world (make it writable to keep changes)",
                target.display()
            ),
        ));
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "world".into());
    for stale in stale_temporaries(&dir, &name) {
        let _ = fs::remove_file(stale);
    }
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = no_follow(OpenOptions::new().write(true).create_new(true)).open(&tmp)?;
        if let Some(meta) = &old {
            keep_mode_and_owner(&f, meta)?;
        }
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)?;
        // Make the rename itself durable (best effort: not every platform opens folders).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Give the new file the old one's permissions and owner. When this process may not (a
/// writer that is neither root nor the owner), the write is refused rather than handing the
/// world to a new owner behind anyone's back.
fn keep_mode_and_owner(f: &File, old: &fs::Metadata) -> io::Result<()> {
    f.set_permissions(old.permissions())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::fchown(f, Some(old.uid()), Some(old.gid())).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot keep the file's owner (uid {}, gid {}): {e}",
                    old.uid(),
                    old.gid()
                ),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.yaml");
        fs::write(&p, "old").unwrap();
        {
            let _l = lock(&p).unwrap();
            write_atomic(&p, "new").unwrap();
        }
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert!(names.contains(&"w.yaml.lock".to_string()));
    }

    #[test]
    fn a_symlinked_world_is_written_through_and_locked_on_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        let link = dir.path().join("link.yaml");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(lock_path(&link), lock_path(&real));
        {
            let _l = lock(&link).unwrap();
            write_atomic(&link, "new").unwrap();
        }
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_read_only_world_is_refused_and_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.yaml");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o444)).unwrap();
        let e = write_atomic(&p, "new").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("read-only"), "{e}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
    }

    #[test]
    fn mode_and_owner_are_kept() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.yaml");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let me = fs::metadata(&p).unwrap();
        // As root (CI), give the file away first, so keeping the owner is really tested.
        let owner = if me.uid() == 0 {
            std::os::unix::fs::chown(&p, Some(4242), Some(4343)).unwrap();
            (4242, 4343)
        } else {
            (me.uid(), me.gid())
        };
        write_atomic(&p, "new").unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o640);
        assert_eq!((m.uid(), m.gid()), owner);
    }

    #[test]
    fn the_lock_file_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.yaml");
        let victim = dir.path().join("victim");
        fs::write(&p, "w").unwrap();
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, lock_path(&p)).unwrap();
        assert!(lock(&p).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.yaml");
        fs::write(&p, "old").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".w.yaml.{dead}.7.tmp"));
        let other = dir.path().join(".w.yaml.notes.tmp");
        fs::write(&stale, "half").unwrap();
        fs::write(&other, "not ours").unwrap();
        write_atomic(&p, "new").unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "a file not of keyward's naming stays");
    }
}
