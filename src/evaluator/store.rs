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

/// The lock file of a world: `NAME.lock` beside it. It is left in place after use: removing it
/// would let a waiting writer lock a file that a newcomer no longer sees.
pub fn lock_path(world: &Path) -> PathBuf {
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

/// Wait for and take the exclusive lock of a world file.
pub fn lock(world: &Path) -> io::Result<WorldLock> {
    let path = lock_path(world);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    FileExt::lock_exclusive(&file)?;
    Ok(WorldLock { file })
}

/// Replace `path` with `contents` atomically: write a temporary file in the same folder, fsync
/// it, rename it over `path`, then fsync the folder. Readers see the old file or the new one,
/// never a mix; a failure leaves the old file as it was.
pub fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "world".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        if let Ok(meta) = fs::metadata(path) {
            // Keep the world file's permissions.
            let _ = f.set_permissions(meta.permissions());
        }
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
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
}
