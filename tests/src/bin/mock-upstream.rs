//! `mock-upstream --listen ADDR`: the multi-dialect mock as a standalone server, for
//! benchmarks and for pointing a real client at it by hand.

use std::net::SocketAddr;

use tollgate_tests::mock::{MockOptions, MockUpstream};

#[expect(
    clippy::print_stdout,
    reason = "the listening line is this binary's output"
)]
fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("mock listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

fn usage() -> ! {
    eprintln!("usage: mock-upstream [--listen ADDR] [--log]\n  ADDR defaults to 127.0.0.1:0; --log writes each request to stderr as JSON");
    std::process::exit(2)
}

fn main() -> anyhow::Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().unwrap_or_else(|| usage());
                listen = value.parse()?;
            }
            "--log" => log = true,
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument: {other}");
                usage()
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mock = MockUpstream::start_with(MockOptions {
            listen,
            record: false,
            log,
        })
        .await?;
        announce(mock.addr());
        tokio::select! {
            () = mock.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}
