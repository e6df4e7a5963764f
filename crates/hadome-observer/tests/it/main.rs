//! hadome-observer's integration tests: one binary, one module per area, each against real
//! components started by the test (HTTP servers in the process, real commands, real nginx).

mod route;
mod server;
mod web;
