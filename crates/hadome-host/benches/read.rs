//! How long one reading of this machine's host facts takes (`docs/benchmarks.md`): boot id and
//! time, the journal's boot list (journalctl), every unit file along the search path, and one
//! data path. systemctl is not asked here when systemd does not run on this machine.

use criterion::{criterion_group, criterion_main, Criterion};

fn read(criterion: &mut Criterion) {
    let options = hadome_host::ReadOptions::local(vec!["/usr/share/doc".into()]);
    criterion.bench_function("read_local", |bencher| {
        bencher.iter(|| hadome_host::read(&options).expect("this machine's facts"));
    });
}

criterion_group!(benches, read);
criterion_main!(benches);
