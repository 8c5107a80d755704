//! `cargo bench -p brick-bench`: the io benchmarks with short windows. The stable commands with
//! all options are `brick bench mem|ring|veth`.

fn main() {
    let cores = {
        let c = brick_io::poll::cores();
        (c.len() >= 2).then(|| (c[0], c[1]))
    };
    match brick_bench::ring::run(2.0, cores) {
        Ok(r) => brick_bench::print_json(&r),
        Err(e) => eprintln!("ring: {e}"),
    }
    let b = brick_bench::mem::MemBench {
        size: 64,
        burst: 32,
        seconds: 3.0,
        flows: 1024,
        cores,
        progress: false,
    };
    match brick_bench::mem::run(&b) {
        Ok(r) => brick_bench::print_json(&r),
        Err(e) => eprintln!("mem: {e}"),
    }
}
