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

    /// The current operating-system user (`USER`, else `USERNAME`, else
    /// `unknown`) on this host.
    pub fn current() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".into());
        Actor {
            user,
            host: host_name(),
        }
    }
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
