//! `--partition hash:I/N` and `count:I/N`: split the selected tests deterministically across CI
//! jobs. Every test is in exactly one of the N parts.

use crate::exit::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// By a hash of `binary_id` and test name: stable when tests are added elsewhere.
    Hash { index: u64, total: u64 },
    /// Round robin over the sorted list of selected tests.
    Count { index: u64, total: u64 },
}

impl Partition {
    pub fn parse(spec: &str) -> Result<Partition, Error> {
        let bad = || {
            Error::Usage(format!(
                "invalid --partition `{spec}`: expected hash:I/N or count:I/N with 1 <= I <= N"
            ))
        };
        let (kind, rest) = spec.split_once(':').ok_or_else(bad)?;
        let (i, n) = rest.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.parse().map_err(|_| bad())?;
        let total: u64 = n.parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        match kind {
            "hash" => Ok(Partition::Hash { index, total }),
            "count" => Ok(Partition::Count { index, total }),
            _ => Err(bad()),
        }
    }

    /// Keep the tests of this part; `tests` are (binary_id, name) in a stable order.
    pub fn apply<T>(&self, tests: Vec<T>, key: impl Fn(&T) -> (String, String)) -> Vec<T> {
        match *self {
            Partition::Count { index, total } => tests
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i as u64 % total == index - 1)
                .map(|(_, t)| t)
                .collect(),
            Partition::Hash { index, total } => tests
                .into_iter()
                .filter(|t| {
                    let (bin, name) = key(t);
                    let mut h = blake3::Hasher::new();
                    h.update(bin.as_bytes());
                    h.update(&[0]);
                    h.update(name.as_bytes());
                    let b = h.finalize();
                    let v = u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"));
                    v % total == index - 1
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_disjoint_and_cover_everything() {
        let tests: Vec<(String, String)> = (0..50)
            .map(|i| ("p::test/t".to_string(), format!("t{i}")))
            .collect();
        for kind in ["hash", "count"] {
            let mut seen = Vec::new();
            for i in 1..=4 {
                let p = Partition::parse(&format!("{kind}:{i}/4")).unwrap();
                seen.extend(p.apply(tests.clone(), |t| t.clone()));
            }
            seen.sort();
            let mut all = tests.clone();
            all.sort();
            assert_eq!(seen, all, "{kind}");
        }
    }

    #[test]
    fn bad_specs_are_refused() {
        for s in [
            "hash",
            "hash:0/3",
            "hash:4/3",
            "count:1/0",
            "mod:1/2",
            "hash:a/b",
        ] {
            assert!(Partition::parse(s).is_err(), "{s}");
        }
    }
}
