//! The site's environment for a task job's programs: bash loads the job's environment modules
//! and sources its setup script once per slice (or local run), and every task of it gets the
//! environment that results, the way `module load` and conda activation change PATH,
//! LD_LIBRARY_PATH and the rest. Nothing from the job file is pasted into the bash program:
//! the script's path and the module names reach it as arguments.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::spec::EnvironmentSpec;

/// The program bash runs: `$1` is the script (or empty), the rest are module names. Everything
/// but the final environment goes to stderr, which is the setup's log.
const SETUP: &str = r#"script="$1"; shift
if [ "$#" -gt 0 ]; then
  if ! type module >/dev/null 2>&1; then
    for init in /usr/share/lmod/lmod/init/bash /etc/profile.d/lmod.sh \
                /usr/share/Modules/init/bash /etc/profile.d/modules.sh; do
      if [ -r "$init" ]; then . "$init" >&2; break; fi
    done
  fi
  if ! type module >/dev/null 2>&1; then
    echo "hpcsub: \`module\` is not available here (install Lmod or Environment Modules)" >&2
    exit 97
  fi
  for name in "$@"; do
    module load "$name" >&2 || { echo "hpcsub: module load $name failed" >&2; exit 98; }
  done
fi
if [ -n "$script" ]; then
  . "$script" >&2 || { status=$?; echo "hpcsub: $script failed (exit $status)" >&2; exit "$status"; }
fi
exec env -0
"#;

/// The environment the job's setup leaves, as (name, value); its output goes to `log`.
pub fn set_up(
    environment: &EnvironmentSpec,
    workdir: &Path,
    log: &Path,
) -> Result<Vec<(OsString, OsString)>, String> {
    let script = environment
        .script
        .as_ref()
        .map_or(OsString::new(), |s| workdir.join(&s.value).into_os_string());
    let args: Vec<OsString> = ["--noprofile", "--norc", "-c", SETUP, "hpcsub-setup"]
        .into_iter()
        .map(OsString::from)
        .chain([script])
        .chain(environment.modules.iter().map(OsString::from))
        .collect();
    let result = crate::process::output("bash", &args, Some(workdir), None);
    let stderr = match &result {
        Ok(output) => output.stderr.clone(),
        Err(failure) => failure.stderr.clone().into_bytes(),
    };
    let _ = std::fs::write(log, &stderr);
    let output = result.map_err(|failure| {
        format!(
            "the environment setup failed ({}); its output is in {}",
            failure.message("bash is needed to set up the environment"),
            log.display()
        )
    })?;
    Ok(parse_env(&output.stdout))
}

/// `env -0` output: `NAME=value` entries separated by NUL bytes.
fn parse_env(bytes: &[u8]) -> Vec<(OsString, OsString)> {
    bytes
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let at = entry.iter().position(|&b| b == b'=')?;
            (at > 0).then(|| {
                (
                    OsString::from_vec(entry[..at].to_vec()),
                    OsString::from_vec(entry[at + 1..].to_vec()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Located;

    fn located(value: &str) -> Located<String> {
        Located {
            value: value.into(),
            location: crate::diagnostic::Location::START,
        }
    }

    #[test]
    fn a_sourced_script_changes_the_environment_and_its_path_is_never_code() {
        let dir = tempfile::tempdir().unwrap();
        let name = "set up; $(touch pwned) 'x'.sh";
        std::fs::write(
            dir.path().join(name),
            "export HPCSUB_SEEN=\"a b=c\"\necho noise\n",
        )
        .unwrap();
        let spec = EnvironmentSpec {
            script: Some(located(name)),
            modules: Vec::new(),
        };
        let env = set_up(&spec, dir.path(), &dir.path().join("setup.log")).unwrap();
        assert!(env.contains(&("HPCSUB_SEEN".into(), "a b=c".into())));
        assert!(!dir.path().join("pwned").exists());
        let log = std::fs::read_to_string(dir.path().join("setup.log")).unwrap();
        assert_eq!(log, "noise\n");
    }

    #[test]
    fn a_failing_script_fails_with_its_output_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.sh"), "echo broken >&2\nreturn 3\n").unwrap();
        let spec = EnvironmentSpec {
            script: Some(located("bad.sh")),
            modules: Vec::new(),
        };
        let err = set_up(&spec, dir.path(), &dir.path().join("setup.log")).unwrap_err();
        assert!(err.contains("exit code 3"), "{err}");
        let log = std::fs::read_to_string(dir.path().join("setup.log")).unwrap();
        assert!(
            log.contains("broken") && log.contains("bad.sh failed (exit 3)"),
            "{log}"
        );
    }
}
