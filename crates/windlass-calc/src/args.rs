//! Expressions that start with a minus sign, as clap cannot be told about them.
//!
//! `eval "-3 + 4"` looks like a cluster of short flags to clap. Letting the expression take
//! anything starting with `-` (`allow_hyphen_values`) made clap take mistyped flags as the
//! expression too, so `eval --conect ADDR 1+1` blamed `ADDR` instead of suggesting `--connect`.
//! clap's `allow_negative_numbers` accepts only a number (`-3`), not an expression.
//!
//! So the rule is ours, applied to the arguments before clap sees them: after the `eval`
//! command, an argument that starts with `-` followed by a digit, `.`, `(` or a space — which no
//! flag does — and is not the value of the flag before it, is moved behind a `--`, where clap
//! takes it as the expression. Everything else reaches clap untouched, so its own errors and
//! suggestions apply. `eval -- "-3 + 4"` works too, as with any clap program.

use std::ffi::OsString;

use clap::CommandFactory;

/// `args` (the program name first) with a leading-minus expression of `eval` moved behind `--`.
pub(crate) fn protect_negative_expression<C: CommandFactory>(args: Vec<OsString>) -> Vec<OsString> {
    let Some(eval_at) = args.iter().skip(1).position(|a| a == "eval").map(|i| i + 1) else {
        return args;
    };
    // Only when `eval` is the command: no argument before it but the program and flags.
    if args[1..eval_at]
        .iter()
        .any(|a| !a.to_string_lossy().starts_with('-'))
    {
        return args;
    }
    let command = C::command();
    let Some(eval) = command.find_subcommand("eval") else {
        return args;
    };
    let mut expression = None;
    for (i, arg) in args.iter().enumerate().skip(eval_at + 1) {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            return args;
        }
        if looks_like_negative_expression(text) && !takes_value(eval, &args[i - 1]) {
            expression = Some(i);
            break;
        }
    }
    let Some(at) = expression else {
        return args;
    };
    // A `--` already further on would make the moved argument a second expression: leave the
    // arguments to clap, whose error then names the problem.
    if args[at + 1..].iter().any(|a| a == "--") {
        return args;
    }
    let mut args = args;
    let moved = args.remove(at);
    args.push("--".into());
    args.push(moved);
    args
}

/// `-3`, `-.5 * 2`, `-(1 + 2)`, `- 4`: a minus sign and then something no flag starts with.
fn looks_like_negative_expression(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next() == Some('-')
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '(' || c.is_whitespace())
}

/// Whether `flag` is an option of `command` that takes a value as the next argument.
fn takes_value(command: &clap::Command, flag: &OsString) -> bool {
    let Some(flag) = flag.to_str() else {
        return false;
    };
    let matches_flag = |arg: &&clap::Arg| {
        if let Some(long) = flag.strip_prefix("--") {
            arg.get_long() == Some(long) || arg.get_all_aliases().is_some_and(|a| a.contains(&long))
        } else if let Some(short) = flag.strip_prefix('-') {
            // A cluster like `-vc` ends with the option that takes the value.
            short
                .chars()
                .last()
                .is_some_and(|c| arg.get_short() == Some(c))
                && !short.is_empty()
        } else {
            false
        }
    };
    command
        .get_arguments()
        .find(matches_flag)
        .is_some_and(|arg| arg.get_action().takes_values())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand)]
    enum Command {
        Eval {
            #[arg(long, short)]
            connect: Option<String>,
            #[arg(long, short)]
            verbose: bool,
            expression: String,
        },
    }

    fn protect(args: &[&str]) -> Vec<String> {
        let args = std::iter::once("calc")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        protect_negative_expression::<Cli>(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_leading_minus_expression_moves_behind_a_double_dash() {
        assert_eq!(
            protect(&["eval", "-3 + 4", "-c", "x:1"]),
            ["calc", "eval", "-c", "x:1", "--", "-3 + 4"]
        );
        assert_eq!(
            protect(&["eval", "-v", "-(1)"]),
            ["calc", "eval", "-v", "--", "-(1)"]
        );
        assert_eq!(protect(&["eval", "- 4"]), ["calc", "eval", "--", "- 4"]);
        assert_eq!(protect(&["eval", "-.5"]), ["calc", "eval", "--", "-.5"]);
    }

    #[test]
    fn everything_else_reaches_clap_as_it_was() {
        for args in [
            &["eval", "--conect", "127.0.0.1:4000", "1+1"][..],
            &["eval", "--", "-3 + 4"],
            &["eval", "1 - 2"],
            &["eval", "-c", "-3"], // the value of -c, not an expression
            &["eval", "--connect", "-3"],
            &["serve", "-3"],
            &["eval", "-3", "--", "4"],
        ] {
            let expected: Vec<String> = std::iter::once("calc")
                .chain(args.iter().copied())
                .map(String::from)
                .collect();
            assert_eq!(protect(args), expected, "{args:?}");
        }
    }
}
