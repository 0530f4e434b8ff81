//! Whether this process was started by an MPI launcher, read from the environment before MPI is
//! initialised: an Open MPI singleton sets `PMIX_RANK` itself during initialisation, so looking
//! afterwards would see a launcher that is not there.

/// This process's place in a launched job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub rank: u32,
    pub size: u32,
    /// The variable that told us, for messages.
    pub source: &'static str,
}

/// (rank variable, size variable), most specific first: Open MPI, MPICH/Hydra (and Slurm's PMI),
/// PMIx, then Slurm's own task variables.
const LAUNCHERS: [(&str, &str); 4] = [
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("PMIX_RANK", "PMIX_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
];

/// The launch this environment describes, if any. A pair with both variables wins; a rank
/// without its size (`srun --mpi=pmix` sets `PMIX_RANK` but no `PMIX_SIZE`) takes the size
/// from another launcher's variable, else 1.
pub fn detect(env: impl Fn(&str) -> Option<String>) -> Option<Launch> {
    let number = |name: &str| -> Option<u32> { env(name)?.trim().parse().ok() };
    let complete = LAUNCHERS.iter().find_map(|(rank_var, size_var)| {
        Some(Launch {
            rank: number(rank_var)?,
            size: number(size_var)?,
            source: size_var,
        })
    });
    complete.or_else(|| {
        let rank = LAUNCHERS
            .iter()
            .find_map(|(rank_var, _)| number(rank_var))?;
        let (size, source) = LAUNCHERS
            .iter()
            .find_map(|(_, size_var)| Some((number(size_var)?, *size_var)))
            .unwrap_or((1, "no size variable"));
        Some(Launch { rank, size, source })
    })
}

/// The launch of this process, from its real environment.
pub fn current() -> Option<Launch> {
    detect(|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn each_launcher_is_recognised() {
        let open_mpi = [("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(
            detect(env(&open_mpi)),
            Some(Launch {
                rank: 2,
                size: 4,
                source: "OMPI_COMM_WORLD_SIZE"
            })
        );
        let hydra = [("PMI_RANK", "0"), ("PMI_SIZE", "3")];
        assert_eq!(detect(env(&hydra)).map(|l| (l.rank, l.size)), Some((0, 3)));
        let slurm = [("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")];
        assert_eq!(detect(env(&slurm)).map(|l| (l.rank, l.size)), Some((1, 2)));
        let srun_pmix = [
            ("PMIX_RANK", "1"),
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "3"),
        ];
        assert_eq!(
            detect(env(&srun_pmix)).map(|l| (l.rank, l.size)),
            Some((1, 3))
        );
        let pmix_only = [("PMIX_RANK", "0")];
        assert_eq!(
            detect(env(&pmix_only)).map(|l| (l.rank, l.size)),
            Some((0, 1))
        );
        assert_eq!(detect(env(&[])), None);
        assert_eq!(detect(env(&[("PMI_RANK", "x")])), None);
    }
}
