//! `cfg(keyrace_postgres)` when `KEYRACE_POSTGRES` names a database: the PostgreSQL tests are
//! then compiled to run, and otherwise `#[ignore]`d with the reason, which libtest prints
//! ("ignored, needs PostgreSQL ..."), so a run without a database says what it did not test.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(keyrace_postgres)");
    println!("cargo::rerun-if-env-changed=KEYRACE_POSTGRES");
    if std::env::var("KEYRACE_POSTGRES").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=keyrace_postgres");
    }
}
