//! The API password: generating one that meets the service's policy, and keeping the password
//! file consistent with what the service has accepted.
//!
//! Rotation writes the new password first to `<password file>.pending` (never the password file
//! itself), asks the service to change it, and only once the service has accepted renames the
//! pending file over the password file (atomic on one file system). If the answer is lost (a
//! timeout, a 5xx), the pending file keeps the candidate so it can be tried before anything else.

use std::io::Write;
use std::path::{Path, PathBuf};

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
/// No backslash (the service advises against it), no quotes or spaces.
const SYMBOLS: &[u8] = b"!#$%&()*+,-./:;<=>?@[]^_{|}~";
/// Well above the policy's 32.
pub const GENERATED_LENGTH: usize = 48;

/// The service's policy: at least 32 characters with a lower-case letter, an upper-case letter,
/// a digit and a symbol.
pub fn meets_policy(password: &str) -> bool {
    password.chars().count() >= 32
        && password.chars().any(|c| c.is_lowercase())
        && password.chars().any(|c| c.is_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace())
}

/// A new random password from OpenSSL's CSPRNG, uniform over the alphabet, meeting the policy.
pub fn generate() -> Result<String, openssl::error::ErrorStack> {
    let alphabet: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    let n = alphabet.len();
    let limit = 256 - 256 % n; // reject bytes that would bias the modulo
    loop {
        let mut password = String::with_capacity(GENERATED_LENGTH);
        while password.len() < GENERATED_LENGTH {
            let mut bytes = [0u8; 64];
            openssl::rand::rand_bytes(&mut bytes)?;
            for b in bytes {
                if (b as usize) < limit && password.len() < GENERATED_LENGTH {
                    password.push(alphabet[b as usize % n] as char);
                }
            }
        }
        if meets_policy(&password) {
            return Ok(password);
        }
    }
}

/// Reads a password file: its content without the final line break.
pub fn read(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn pending_path(password_file: &Path) -> PathBuf {
    let mut name = password_file.file_name().unwrap_or_default().to_owned();
    name.push(".pending");
    password_file.with_file_name(name)
}

/// Writes `password` to `path` readable by the owner only, and flushes it to disk.
pub fn write_private(path: &Path, password: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(password.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes the pending password the password file: an atomic rename, then the directory synced.
pub fn commit(password_file: &Path) -> std::io::Result<()> {
    std::fs::rename(pending_path(password_file), password_file)?;
    #[cfg(unix)]
    if let Some(dir) = password_file.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes the pending password (the service refused it).
pub fn discard(password_file: &Path) {
    let _ = std::fs::remove_file(pending_path(password_file));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_the_policy_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        for p in [&a, &b] {
            assert_eq!(p.len(), GENERATED_LENGTH);
            assert!(meets_policy(p));
            assert!(!p.contains(['\\', '"', '\'', ' ']));
        }
    }

    #[test]
    fn the_policy_needs_length_and_every_class() {
        assert!(meets_policy("aA1!aaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!meets_policy("aA1!aaaaaaaaaaaaaaaaaaaaaaaaaaa")); // 31
        assert!(!meets_policy("aA1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!meets_policy("aA!aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!meets_policy("a1!aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!meets_policy("A1!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn a_pending_password_replaces_the_file_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("messages.password");
        std::fs::write(&file, "old\n").unwrap();
        assert_eq!(read(&file).unwrap(), "old");

        write_private(&pending_path(&file), "new").unwrap();
        assert_eq!(read(&file).unwrap(), "old");
        assert_eq!(pending_path(&file), dir.path().join("messages.password.pending"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(pending_path(&file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        commit(&file).unwrap();
        assert_eq!(read(&file).unwrap(), "new");
        assert!(!pending_path(&file).exists());

        write_private(&pending_path(&file), "refused").unwrap();
        discard(&file);
        assert!(!pending_path(&file).exists());
        assert_eq!(read(&file).unwrap(), "new");
    }
}
