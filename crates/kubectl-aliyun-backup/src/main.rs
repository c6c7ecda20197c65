//! `kubectl-aliyun-backup`: kubectl finds it on PATH as `kubectl aliyun-backup`.

use std::io::Write;

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(kubectl_aliyun_backup::EXIT_ERROR);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = runtime.block_on(kubectl_aliyun_backup::run(
        std::env::args_os(),
        &mut out,
        &mut err,
    ));
    let _ = out.flush();
    let _ = err.flush();
    std::process::exit(code);
}
