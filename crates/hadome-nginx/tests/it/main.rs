//! hadome-nginx's integration tests: the lint on the real `nginx -T` output of the
//! configurations under `tests/configs/`, and properties of the reader.

mod properties;
mod real_nginx;
