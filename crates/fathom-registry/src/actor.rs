//! Who makes a change, and from where: recorded with every registry change.

use serde::{Deserialize, Serialize};

/// The person or service making a change, and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User or service name.
    pub user: String,
    /// Host name of the machine the change came from.
    pub host: String,
}

impl Actor {
    /// An actor with the given user and host.
    pub fn new(user: impl Into<String>, host: impl Into<String>) -> Self {
        Actor {
            user: user.into(),
            host: host.into(),
        }
    }

    /// The current user — `FATHOM_USER`, else `USER`, `LOGNAME` or
    /// `USERNAME`, else the account of this process's user id, else
    /// `unknown` — on this host.
    pub fn current() -> Self {
        let user = ["FATHOM_USER", "USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
            .or_else(account_name)
            .unwrap_or_else(|| "unknown".into());
        Actor {
            user,
            host: host_name(),
        }
    }
}

/// The account name of this process's user id, from `/etc/passwd` (for
/// services and containers that run without `USER` set).
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`,
/// else `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_account_name_matches_id() {
        let Ok(out) = std::process::Command::new("id").arg("-un").output() else {
            {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: no `id` command to compare with"
                );
            }
            return;
        };
        let expected = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(super::account_name().as_deref(), Some(expected.as_str()));
    }
}
