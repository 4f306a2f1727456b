//! The command line around the settings: `serve` as the command run when none is named, each command
//! reading only the settings it uses, and messages that name a setting the way the user gave it (its
//! flag, or its environment variable). The settings themselves are defined once, in `config`; the
//! commands live in `main.rs`.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, Command};

use crate::config::Settings;

/// `action-tracker` alone, or followed by flags only, runs `default` (`serve`) with those flags. Clap has
/// no default subcommand, and declaring the server's settings at the top as well would make every
/// command read, and refuse, the server's environment variables. Settings given before a command
/// (`action-tracker --database-url … migrate`, which worked when settings were global) are moved behind
/// it: a word that names one of `commands` and does not follow a flag (whose value it would be) is the
/// command.
pub fn with_default_command(mut args: Vec<OsString>, default: &str, commands: &[&str]) -> Vec<OsString> {
    let names_a_command = args.get(1).is_some_and(|first| {
        let first = first.to_string_lossy();
        !first.starts_with('-') || matches!(first.as_ref(), "-h" | "--help" | "-V" | "--version")
    });
    if names_a_command {
        return args;
    }
    let later = (2..args.len()).find(|&at| {
        let word = args[at].to_string_lossy();
        let previous = args[at - 1].to_string_lossy();
        let previous_takes_it = previous.starts_with('-') && !previous.contains('=');
        commands.contains(&word.as_ref()) && !previous_takes_it
    });
    match later {
        Some(at) => {
            let command = args.remove(at);
            args.insert(1, command);
        }
        None => args.insert(args.len().min(1), default.into()),
    }
    args
}

/// Leaves each subcommand of `command` with only the settings `reads(subcommand, setting)` keeps. The
/// others stay defined, so a whole `Settings` can still be built from their defaults, but they are left
/// out of the subcommand's `--help`, not read from the environment (a bad value meant for the server
/// cannot stop `token`), and refused on its command line by [`refuse_unread`].
pub fn narrow(command: Command, reads: impl Fn(&str, &Arg) -> bool) -> Command {
    let settings = Settings::augment_args(Command::new("settings"));
    let names: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    names.iter().fold(command, |command, name| {
        command.mut_subcommand(name, |sub| {
            sub.mut_args(|arg| {
                let is_setting = settings.get_arguments().any(|setting| setting.get_id() == arg.get_id());
                if is_setting && !reads(name, &arg) { arg.hide(true).env(None) } else { arg }
            })
        })
    })
}

/// Refuses a setting given on the command line to a command that does not read it: the settings
/// [`narrow`] hid from it.
pub fn refuse_unread(command: &Command, matches: &ArgMatches) -> Result<(), clap::Error> {
    let Some((name, matches)) = matches.subcommand() else { return Ok(()) };
    let Some(sub) = command.find_subcommand(name) else { return Ok(()) };
    let unread = sub
        .get_arguments()
        .filter(|arg| arg.is_hide_set())
        .find(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine));
    match unread {
        Some(arg) => Err(sub.clone().error(
            ErrorKind::UnknownArgument,
            format!(
                "`{name}` does not read {}; `{} {name} --help` lists the settings it reads",
                flag(arg),
                command.get_name()
            ),
        )),
        None => Ok(()),
    }
}

/// Clap names a setting by its flag when refusing its value, even when the value came from the
/// environment; this names the environment variable instead, which is what the user set. The value of a
/// secret setting (`hide_env_values`) taken from the environment is not repeated. `args` are those
/// parsed, with the command named (see [`with_default_command`]).
pub fn name_env_values(mut error: clap::Error, command: &Command, args: &[OsString]) -> clap::Error {
    let used = args.get(1).and_then(|name| command.find_subcommand(name)).unwrap_or(command);
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        let Some(ContextValue::String(shown)) = error.get(kind) else { continue };
        let Some(arg) = used.get_arguments().find(|arg| arg.to_string() == *shown) else { continue };
        let Some(variable) = arg.get_env() else { continue };
        if std::env::var_os(variable).is_none() || given_on_command_line(arg, args.get(1..).unwrap_or_default()) {
            continue;
        }
        let secret = arg.is_hide_env_values_set();
        error.insert(kind, ContextValue::String(variable.to_string_lossy().into_owned()));
        if secret && kind == ContextKind::InvalidArg {
            error.insert(ContextKind::InvalidValue, ContextValue::String("[hidden]".into()));
        }
    }
    error
}

fn given_on_command_line(arg: &Arg, args: &[OsString]) -> bool {
    let flag = flag(arg);
    let with_value = format!("{flag}=");
    args.iter()
        .map(|given| given.to_string_lossy())
        .take_while(|given| given != "--")
        .any(|given| given == flag || given.starts_with(&with_value))
}

fn flag(arg: &Arg) -> String {
    format!("--{}", arg.get_long().unwrap_or_else(|| arg.get_id().as_str()))
}

/// How the user gave the settings of the command that runs. Start-up refusals (`Keys::load`,
/// `Mailer::new`, `startup`) name a setting by its environment variable; [`Self::reword`] puts the flag
/// in its place where the user gave the flag.
#[derive(Debug, Default)]
pub struct GivenAs {
    /// (environment variable, flag) of the settings given as flags.
    flags: Vec<(String, String)>,
}

impl GivenAs {
    pub fn new(command: &Command, matches: &ArgMatches) -> Self {
        let Some((name, matches)) = matches.subcommand() else { return Self::default() };
        let Some(sub) = command.find_subcommand(name) else { return Self::default() };
        let flags = sub
            .get_arguments()
            .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
            .filter_map(|arg| Some((arg.get_env()?.to_string_lossy().into_owned(), flag(arg))))
            .collect();
        Self { flags }
    }

    /// `message` with each setting given as a flag named by its flag rather than its environment
    /// variable. A message that already names the flag speaks of both ways and is left as it is.
    pub fn reword(&self, message: &str) -> String {
        let mut message = message.to_owned();
        for (variable, flag) in &self.flags {
            if !message.contains(flag.as_str()) {
                message = replace_word(&message, variable, flag);
            }
        }
        message
    }
}

/// `text` with `word` replaced where it stands alone, so that `MAIL_RETRY_MAX` is not found inside
/// `MAIL_RETRY_MAXIMUM`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let part_of_a_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut replaced = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, _) in text.match_indices(word) {
        let end = start + word.len();
        let alone = !text[..start].chars().next_back().is_some_and(part_of_a_word)
            && !text[end..].chars().next().is_some_and(part_of_a_word);
        if alone && start >= copied {
            replaced.push_str(&text[copied..start]);
            replaced.push_str(with);
            copied = end;
        }
    }
    replaced.push_str(&text[copied..]);
    replaced
}

/// Whether `setting` is one of the settings `T` groups (`DatabaseSettings`, `LogSettings`, …).
pub fn is_one_of<T: Args>(setting: &Arg) -> bool {
    T::augment_args(Command::new("settings")).get_arguments().any(|arg| arg.get_id() == setting.get_id())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsStr::new).map(OsStr::to_owned).collect()
    }

    #[test]
    fn without_a_command_the_default_runs_with_the_flags_given() {
        let run = |args: &[&str]| with_default_command(os(args), "serve", &["serve", "migrate", "token"]);
        assert_eq!(run(&["at"]), os(&["at", "serve"]));
        // Settings given before the command, as when they were global.
        assert_eq!(run(&["at", "--database-url", "x.db", "migrate"]), os(&["at", "migrate", "--database-url", "x.db"]));
        assert_eq!(
            run(&["at", "--data-dir=d", "token", "--email", "a"]),
            os(&["at", "token", "--data-dir=d", "--email", "a"])
        );
        // A value that happens to be a command's name stays the flag's value.
        assert_eq!(run(&["at", "--log", "migrate"]), os(&["at", "serve", "--log", "migrate"]));
        assert_eq!(run(&["at", "--listen-addr", "x"]), os(&["at", "serve", "--listen-addr", "x"]));
        assert_eq!(run(&["at", "token", "--email", "a"]), os(&["at", "token", "--email", "a"]));
        assert_eq!(run(&["at", "--help"]), os(&["at", "--help"]));
        assert_eq!(run(&["at", "-V"]), os(&["at", "-V"]));
    }

    #[test]
    fn a_setting_given_as_a_flag_is_named_by_its_flag() {
        let given = GivenAs {
            flags: vec![("JWT_SECRET".into(), "--jwt-secret".into()), ("DATA_DIR".into(), "--data-dir".into())],
        };
        assert_eq!(
            given.reword("LINK_SECRET must differ from JWT_SECRET: …"),
            "LINK_SECRET must differ from --jwt-secret: …"
        );
        assert_eq!(given.reword("JWT_SECRET_FILE and XJWT_SECRET stay"), "JWT_SECRET_FILE and XJWT_SECRET stay");
        assert_eq!(given.reword("in DATA_DIR/outbox"), "in --data-dir/outbox");
        let both = "point at it with --data-dir or DATA_DIR";
        assert_eq!(given.reword(both), both);
    }
}
