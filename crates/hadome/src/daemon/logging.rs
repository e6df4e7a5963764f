//! The daemon's log line: [`crate::daemon_log`], shared with the coordination of leases.

pub(crate) use crate::daemon_log::log;
