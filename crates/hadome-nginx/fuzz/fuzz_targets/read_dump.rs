//! Any bytes, as a dump and as one file's text: reading and linting never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for dump in [
        text.to_string(),
        format!("# configuration file /etc/nginx/nginx.conf:\n{text}\n"),
    ] {
        if let Ok(nginx) = hadome_nginx::read(&dump) {
            let _ = hadome_nginx::lint::lint(&nginx, &Default::default());
        }
    }
});
