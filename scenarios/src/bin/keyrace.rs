fn main() {
    eprintln!("keyrace: the conformance runner is not built yet; see README.md");
    std::process::exit(2);
}
