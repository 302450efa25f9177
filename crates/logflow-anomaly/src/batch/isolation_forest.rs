//! Isolation Forest (Liu, Ting and Zhou, 2008): anomalies are few and different, so random
//! axis-parallel cuts isolate them in fewer steps than normal points.
//!
//! Each tree is grown on a random subsample (256 points by default) with random features and random
//! cut points until every point is alone or the depth limit `ceil(log2(sample))` is reached. A point's
//! score is `2^(-E[h(x)] / c(n))`, where `h` is its path length (plus the expected length `c` of the
//! unbuilt subtree at a leaf holding several points) and `c(n)` the average path length of an
//! unsuccessful search in a binary search tree of `n` points: near 1 for anomalies, around 0.5 and
//! below for normal points. The random generator is seeded, so the same data gives the same scores.

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};

/// Subsample size of each tree, the paper's default.
pub const DEFAULT_SAMPLE_SIZE: usize = 256;

/// A trained forest over points of `dimensions` features each.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    sample_size: usize,
    dimensions: usize,
}

/// The nodes of one tree in pre-order: a split's left child is the node right after it.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

/// A split on `feature` at `value` whose right child is `right`, or, with `feature == LEAF`, a leaf
/// whose `value` is the path length it adds (`c` of the points it holds).
#[derive(Debug, Clone, Copy)]
struct Node {
    value: f64,
    feature: u32,
    right: u32,
}

const LEAF: u32 = u32::MAX;

/// Scratch space reused by every node of every tree while growing.
struct Grower<'a> {
    /// The rows, one after the other, `dimensions` features each.
    data: &'a [f64],
    dimensions: usize,
    depth_limit: usize,
    /// Features that vary among the rows of the node being split, with their ranges.
    ranges: Vec<(usize, f64, f64)>,
    /// Where a node's row indices are stably partitioned before being copied back.
    scratch: Vec<u32>,
}

impl IsolationForest {
    /// Grows `trees` trees on subsamples of at most `sample_size` rows of `data`, using a generator
    /// seeded with `seed`. Every row must have the same number of features; empty `data` gives a
    /// forest that scores everything 0.5.
    pub fn fit(data: &[Vec<f64>], trees: usize, sample_size: usize, seed: u64) -> Self {
        let dimensions = data.first().map_or(0, Vec::len);
        let flat: Vec<f64> = data.iter().flat_map(|row| row[..dimensions].iter().copied()).collect();
        Self::fit_flat(&flat, data.len(), dimensions, trees, sample_size, seed)
    }

    /// [`IsolationForest::fit`] over `rows` rows of `dimensions` features stored one after the
    /// other in `data`.
    pub(crate) fn fit_flat(
        data: &[f64],
        rows: usize,
        dimensions: usize,
        trees: usize,
        sample_size: usize,
        seed: u64,
    ) -> Self {
        let sample_size = sample_size.clamp(1, rows.max(1));
        let depth_limit = (sample_size as f64).log2().ceil() as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        let trees = if rows == 0 {
            Vec::new()
        } else {
            let mut grower = Grower {
                data,
                dimensions,
                depth_limit,
                ranges: Vec::with_capacity(dimensions),
                scratch: Vec::with_capacity(sample_size),
            };
            let mut sample: Vec<u32> = Vec::with_capacity(sample_size);
            (0..trees.max(1))
                .map(|_| {
                    sample.clear();
                    sample.extend(index::sample(&mut rng, rows, sample_size).iter().map(|i| i as u32));
                    let mut tree = Tree { nodes: Vec::with_capacity(2 * sample_size) };
                    grower.grow(&mut tree, &mut sample, 0, &mut rng);
                    tree
                })
                .collect()
        };
        IsolationForest { trees, sample_size, dimensions }
    }

    /// Number of features the forest was trained on.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Anomaly score of `point` in (0, 1]: above ~0.6 stands out, around 0.5 or below is normal.
    pub fn score(&self, point: &[f64]) -> f64 {
        if self.trees.is_empty() {
            return 0.5;
        }
        let total = self.trees.iter().map(|t| t.path_length(|f| point.get(f).copied().unwrap_or(0.0))).sum::<f64>();
        self.score_of(total)
    }

    /// The scores of `rows` points of exactly [`IsolationForest::dimensions`] features stored one
    /// after the other in `data`: the same as [`IsolationForest::score`] of each, computed tree by
    /// tree (each tree stays in cache) on up to two threads.
    pub(crate) fn score_flat(&self, data: &[f64], rows: usize) -> Vec<f64> {
        if self.trees.is_empty() {
            return vec![0.5; rows];
        }
        let d = self.dimensions;
        // Each point's path lengths are added in tree order, as `score` does (`Sum` starts at -0.0).
        let mut totals = vec![-0.0f64; rows];
        let accumulate = |totals: &mut [f64], data: &[f64]| {
            for tree in &self.trees {
                for (i, total) in totals.iter_mut().enumerate() {
                    let point = &data[i * d..(i + 1) * d];
                    *total += tree.path_length(|f| point[f]);
                }
            }
        };
        let half = rows / 2;
        if rows >= 256 && parallel() {
            let (first, second) = totals.split_at_mut(half);
            let (first_data, second_data) = data[..rows * d].split_at(half * d);
            std::thread::scope(|scope| {
                scope.spawn(|| accumulate(second, second_data));
                accumulate(first, first_data);
            });
        } else {
            accumulate(&mut totals, &data[..rows * d]);
        }
        totals.into_iter().map(|total| self.score_of(total)).collect()
    }

    fn score_of(&self, total_path: f64) -> f64 {
        let mean_path = total_path / self.trees.len() as f64;
        let normaliser = average_path_length(self.sample_size);
        if normaliser <= 0.0 {
            return 0.5;
        }
        2f64.powf(-mean_path / normaliser)
    }
}

impl Grower<'_> {
    /// Appends the subtree for the rows `rows` (indices into `data`, reordered in place) to `tree`.
    fn grow(&mut self, tree: &mut Tree, rows: &mut [u32], depth: usize, rng: &mut StdRng) {
        let at = tree.nodes.len();
        tree.nodes.push(Node { value: average_path_length(rows.len()), feature: LEAF, right: 0 });
        if rows.len() <= 1 || depth >= self.depth_limit {
            return;
        }
        // Only features that vary among these rows can be cut.
        let (data, d) = (self.data, self.dimensions);
        self.ranges.clear();
        for f in 0..d {
            let (lo, hi) = rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                let v = data[r as usize * d + f];
                (lo.min(v), hi.max(v))
            });
            if hi > lo {
                self.ranges.push((f, lo, hi));
            }
        }
        if self.ranges.is_empty() {
            return;
        }
        let (feature, lo, hi) = self.ranges[rng.random_range(0..self.ranges.len())];
        let threshold = rng.random_range(lo..hi);
        // A stable partition, so the rows keep the order the original grower saw them in.
        self.scratch.clear();
        self.scratch.extend(rows.iter().copied().filter(|&r| data[r as usize * d + feature] < threshold));
        let left_len = self.scratch.len();
        self.scratch.extend(rows.iter().copied().filter(|&r| !(data[r as usize * d + feature] < threshold)));
        rows.copy_from_slice(&self.scratch);
        let (left_rows, right_rows) = rows.split_at_mut(left_len);
        self.grow(tree, left_rows, depth + 1, rng);
        let right = tree.nodes.len() as u32;
        self.grow(tree, right_rows, depth + 1, rng);
        tree.nodes[at] = Node { value: threshold, feature: feature as u32, right };
    }
}

impl Tree {
    /// The path length of the point whose feature `f` is `feature(f)`.
    #[inline]
    fn path_length(&self, feature: impl Fn(usize) -> f64) -> f64 {
        let mut node = 0;
        let mut depth = 0u32;
        loop {
            let Node { value, feature: f, right } = self.nodes[node];
            if f == LEAF {
                return f64::from(depth) + value;
            }
            node = if feature(f as usize) < value { node + 1 } else { right as usize };
            depth += 1;
        }
    }
}

/// Whether a second core is available (asked once: the answer reads cgroup files on Linux).
fn parallel() -> bool {
    static PARALLEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PARALLEL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// `c(n)`: average path length of an unsuccessful search in a binary search tree of `n` points.
fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster_with_outlier() -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut data: Vec<Vec<f64>> =
            (0..300).map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)]).collect();
        data.push(vec![8.0, -7.5]);
        data
    }

    #[test]
    fn an_outlier_scores_far_above_the_cluster() {
        let data = cluster_with_outlier();
        let forest = IsolationForest::fit(&data, 100, DEFAULT_SAMPLE_SIZE, 42);
        assert_eq!(forest.dimensions(), 2);
        let outlier = forest.score(&[8.0, -7.5]);
        let centre = forest.score(&[0.0, 0.0]);
        assert!(outlier > 0.7, "outlier {outlier}");
        assert!(centre < 0.5, "centre {centre}");
    }

    #[test]
    fn the_same_seed_gives_the_same_scores() {
        let data = cluster_with_outlier();
        let a = IsolationForest::fit(&data, 50, 64, 1);
        let b = IsolationForest::fit(&data, 50, 64, 1);
        let c = IsolationForest::fit(&data, 50, 64, 2);
        let point = [0.9, 0.9];
        assert_eq!(a.score(&point), b.score(&point));
        assert_ne!(a.score(&point), c.score(&point));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(IsolationForest::fit(&[], 10, 256, 0).score(&[1.0]), 0.5);
        let constant = vec![vec![3.0]; 20];
        let forest = IsolationForest::fit(&constant, 10, 256, 0);
        assert!(forest.score(&[3.0]).is_finite());
        assert_eq!(average_path_length(2), 1.0);
    }
}
