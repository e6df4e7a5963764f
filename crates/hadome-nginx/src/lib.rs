//! hadome's nginx reader and lint: the whole configuration as nginx itself dumps it (`nginx -T`),
//! a model of its servers, locations and proxy targets, and the rules of incident E
//! (`nginx-static-resolve`, `port-collision`, `server-name-fallthrough`, `upstream-not-running`).
//!
//! **This crate does no I/O**: it takes the text of `nginx -T` and a [`lint::LintContext`] of
//! declared services and routes, and returns findings. Running nginx is the edge's job.
//!
//! - [`dump`]: splits the dump into its files and expands `include`s in place;
//! - [`syntax`]: nginx's grammar (a tokenizer as `ngx_conf_read_token`, an explicit-stack parser
//!   with a depth cap);
//! - [`model`]: servers, listens, server names, locations, passes and their targets, the
//!   resolver in scope, upstreams, maps and sets;
//! - [`lint`]: the rules.
//!
//! Why no parser crate: `nginx-config` (0.13) knows a fixed set of directives and rejects the
//! unknown ones every real dump has; `nginx-lint-parser` (0.19) is a lossless CST for a linter,
//! recurses once per block without a depth cap, and knows nothing of the dump's file markers.
//!
//! ```
//! let dump = "# configuration file /etc/nginx/nginx.conf:\n\
//!             http {\n  server {\n    server_name app-1.apps.lab;\n    location / { proxy_pass http://app-1:3000; }\n  }\n}\n";
//! let nginx = hadome_nginx::read(dump)?;
//! let findings = hadome_nginx::lint::lint(&nginx, &Default::default());
//! assert_eq!(findings[0].rule, "nginx-static-resolve");
//! assert_eq!(findings[0].place.to_string(), "/etc/nginx/nginx.conf:4");
//! # Ok::<(), hadome_nginx::error::ReadError>(())
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::sync::Arc;

pub mod dump;
pub mod error;
pub mod lint;
pub mod model;
pub mod syntax;

/// Where a directive is: the file nginx read it from and the line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Place {
    /// The file's path, as `nginx -T` printed it.
    pub file: Arc<str>,
    /// The line, from 1.
    pub line: u32,
}

impl fmt::Display for Place {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.file, self.line)
    }
}

/// Reads `nginx -T` output into the model the lint reads.
pub fn read(dump: &str) -> Result<model::Nginx, error::ReadError> {
    let configuration = dump::read_dump(dump)?;
    Ok(model::model(
        configuration.main_file,
        &configuration.directives,
    ))
}
