//! The reference adapter: keyrace-adapter/1 on stdin/stdout over keyrace-core.
//! `keyrace-reference-adapter --mutant NAME` switches on one known-bad variant.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Parser;
use keyrace_reference::{self as adapter, Mutant};

#[derive(Parser)]
#[command(
    version,
    about = "The keyrace reference adapter (keyrace-adapter/1 on stdin/stdout)"
)]
struct Cli {
    /// Switch on one known-bad variant, to show that `keyrace check` catches it.
    #[arg(long, value_parser = PossibleValuesParser::new(Mutant::names())
        .try_map(|name| name.parse::<Mutant>()))]
    mutant: Option<Mutant>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = adapter::serve(
        cli.mutant,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    ) {
        eprintln!("keyrace-reference-adapter: {e}");
        std::process::exit(1);
    }
}
