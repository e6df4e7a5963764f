//! hadome's executor: the one place that carries out steps on an estate's servers, for `hadome
//! run` (a person) and `hadome daemon` (automation) alike.
//!
//! - [`Step`]: one typed thing done to a server, with the sentence that names it
//!   ([`Step::describe`]), which is journaled and shown.
//! - [`plan`]: the steps of an [`Action`](hadome_core::action::Action), pure; destroying plans
//!   preserve first. [`check_configured`] refuses a plan whose commands the estate lacks
//!   ([`NotConfigured`], with the key to set).
//! - [`execute`]: one step, its effect verified ([`wait_for`]): configured argv commands through
//!   the one runner ([`run_argv`], placeholders filled by [`fill`], shown without passwords by
//!   [`shown_argv`], bounded by [`COMMAND_TIMEOUT`]); SQL changes through the observer's session
//!   functions; data directories moved aside by [`preserve`], never deleted.
//! - [`carry_out`]: the intent → steps → outcome loop; the caller's [`Recorder`] journals and
//!   shows each stage.
//!
//! Counting a restored copy's rows ([`Step::Compare`]) is the caller's, through [`CountRows`]:
//! the executor does not depend on the restore test.
//!
//! Every error is a `thiserror` enum whose text is what the journal records as the step's
//! detail.
//!
//! ```
//! use hadome_executor::{fill, shown_argv, Placeholders};
//!
//! let follow = ["pg-follow", "--upstream", "{source_conninfo}", "-D", "{data_dir}"]
//!     .map(str::to_owned);
//! let data_dir = std::path::Path::new("/srv/db-3");
//! let argv = fill(
//!     &follow,
//!     &Placeholders {
//!         target: Some("db-3"),
//!         source: Some("db-1"),
//!         source_conninfo: Some("host=db-1 user=replicator password=hunter2"),
//!         data_dir: Some(data_dir),
//!         ..Placeholders::default()
//!     },
//! );
//! assert_eq!(argv[2], "host=db-1 user=replicator password=hunter2");
//! assert_eq!(
//!     shown_argv(&argv),
//!     "pg-follow --upstream host=db-1 user=replicator -D /srv/db-3"
//! );
//! ```

#![warn(missing_docs)]

mod carry;
mod command;
mod debian;
mod execute;
mod member;
mod own_data_dir;
mod plan;
mod preflight;
mod preserve;
mod step;
mod wait;

pub use crate::carry::{carry_out, Outcome, Recorder};
pub use crate::command::{
    fill, run_argv, run_on_host_of, shown_argv, CommandError, Placeholders, Ran, COMMAND_TIMEOUT,
};
pub use crate::execute::{execute, CountError, CountRows, StepError};
pub use crate::member::{MemberOp, MemberStepError};
pub use crate::own_data_dir::SharedDataDirError;
pub use crate::plan::{check_configured, name_image, plan, NotConfigured};
pub use crate::preflight::{preflight, PreflightError};
pub use crate::preserve::{preserve, put_back, PreserveError};
pub use crate::step::Step;
pub use crate::wait::{wait_for, Effect, WaitError, EFFECT_TIMEOUT};
