//! The files of a SQLite database: who may read them, and the lock that lets one daemon at a
//! time serve them.
//!
//! The database holds whatever `data.keep` asks for of the customers' personal data, so it is
//! created readable by the service's user only, whatever the umask. SQLite gives its WAL and
//! shared-memory files the database file's permissions, so creating that file first is enough;
//! the lock file is journeyd's own and is created the same way. A file that exists already keeps
//! the permissions it has: an operator may have opened it to a group on purpose.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::super::StoreError;

/// Owner read and write, nothing for anyone else.
const PRIVATE: u32 = 0o600;

/// Creates the empty file at `path` readable and writable by its owner only, unless it exists.
/// SQLite takes an empty file for a new database.
pub(super) fn create_private(path: &Path) -> io::Result<()> {
    match private_file(path, OpenOptions::new().write(true).create_new(true)) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

fn private_file(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options.mode(PRIVATE).open(path)
}

/// The advisory lock on `<database>.lock` that one daemon holds for its whole life.
pub(super) struct DaemonLock {
    database: PathBuf,
    /// Held while locked; dropping it unlocks.
    held: Mutex<Option<File>>,
}

impl DaemonLock {
    pub(super) fn for_database(database: &Path) -> Self {
        Self {
            database: database.to_path_buf(),
            held: Mutex::new(None),
        }
    }

    fn path(&self) -> PathBuf {
        let mut name = self.database.clone().into_os_string();
        name.push(".lock");
        name.into()
    }

    /// Takes the lock (if this store does not hold it already), or says who has it.
    pub(super) fn take(&self) -> Result<(), StoreError> {
        if self.held.lock().expect("lock poisoned").is_some() {
            return Ok(());
        }
        let path = self.path();
        let lock_file = path.display().to_string();
        let file = private_file(
            &path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(|source| StoreError::Lock {
            lock_file: lock_file.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => {
                *self.held.lock().expect("lock poisoned") = Some(file);
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(StoreError::AlreadyRunning {
                database: self.database.display().to_string(),
                lock_file,
            }),
            Err(TryLockError::Error(source)) => Err(StoreError::Lock { lock_file, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_the_owners_alone_and_an_old_one_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        create_private(&new).unwrap();
        assert_eq!(mode(&new), 0o600);

        let shared = dir.path().join("shared.db");
        std::fs::write(&shared, b"").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_private(&shared).unwrap();
        assert_eq!(mode(&shared), 0o640, "an operator's choice is kept");

        let lock = DaemonLock::for_database(&new);
        lock.take().unwrap();
        assert_eq!(mode(&dir.path().join("new.db.lock")), 0o600);
    }
}
