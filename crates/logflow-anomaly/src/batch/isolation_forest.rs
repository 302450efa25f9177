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
    /// No leaf is deeper.
    depth_limit: usize,
}

/// The nodes of one tree in pre-order: a split's left child is the node right after it.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

/// A split sending points whose `feature` is below `value` to `children[0]`, the others to
/// `children[1]`; or, with `feature == LEAF`, a leaf whose `value` is the path length of a point
/// ending there (its depth plus `c` of the points it holds), and whose children are itself, so a
/// point can take a fixed number of steps whatever the depth of its leaf.
#[derive(Debug, Clone, Copy)]
struct Node {
    value: f64,
    children: [u32; 2],
    feature: u32,
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
        let mut grown = Vec::with_capacity(trees);
        let (sample_size, depth_limit) =
            grow_trees(data, rows, dimensions, trees, sample_size, seed, |tree| grown.push(tree));
        IsolationForest { trees: grown, sample_size, dimensions, depth_limit }
    }

    /// `fit_flat(..).score_flat(data, rows)`, with the same results, but with a second core (when
    /// there is one) scoring each tree while the next one grows.
    pub(crate) fn fit_and_score_flat(
        data: &[f64],
        rows: usize,
        dimensions: usize,
        trees: usize,
        sample_size: usize,
        seed: u64,
    ) -> Vec<f64> {
        if rows < 256 || dimensions == 0 || !parallel() {
            return Self::fit_flat(data, rows, dimensions, trees, sample_size, seed).score_flat(data, rows);
        }
        let (sample_size, depth_limit) = limits(rows, sample_size);
        let (sender, receiver) = std::sync::mpsc::channel::<Tree>();
        let mut totals = vec![-0.0f64; rows];
        let mut count = 0;
        std::thread::scope(|scope| {
            let totals = &mut totals;
            scope.spawn(move || {
                for tree in receiver {
                    accumulate(&tree, totals, &data[..rows * dimensions], dimensions, depth_limit);
                }
            });
            grow_trees(data, rows, dimensions, trees, sample_size, seed, |tree| {
                count += 1;
                sender.send(tree).expect("the scorer runs until the sender is dropped");
            });
            drop(sender);
        });
        totals.into_iter().map(|total| score_of(total, count, sample_size)).collect()
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
        score_of(total, self.trees.len(), self.sample_size)
    }

    /// The scores of `rows` points of exactly [`IsolationForest::dimensions`] features stored one
    /// after the other in `data`: the same as [`IsolationForest::score`] of each, computed tree by
    /// tree (each tree stays in cache) on up to two threads.
    pub(crate) fn score_flat(&self, data: &[f64], rows: usize) -> Vec<f64> {
        if self.trees.is_empty() {
            return vec![0.5; rows];
        }
        let d = self.dimensions;
        let data = &data[..rows * d];
        // Each point's path lengths are added in tree order, as `score` does (`Sum` starts at -0.0).
        let mut totals = vec![-0.0f64; rows];
        let all = |totals: &mut [f64], data: &[f64]| {
            for tree in &self.trees {
                accumulate(tree, totals, data, d, self.depth_limit);
            }
        };
        if rows >= 256 && parallel() {
            let half = rows / 2;
            let (first, second) = totals.split_at_mut(half);
            let (first_data, second_data) = data.split_at(half * d);
            std::thread::scope(|scope| {
                scope.spawn(|| all(second, second_data));
                all(first, first_data);
            });
        } else {
            all(&mut totals, data);
        }
        totals.into_iter().map(|total| score_of(total, self.trees.len(), self.sample_size)).collect()
    }
}

/// The subsample size and depth limit for `rows` rows and a requested `sample_size`.
fn limits(rows: usize, sample_size: usize) -> (usize, usize) {
    let sample_size = sample_size.clamp(1, rows.max(1));
    (sample_size, (sample_size as f64).log2().ceil() as usize)
}

/// Grows `trees` trees (see [`IsolationForest::fit`]) over the flat `data`, handing each to `each`
/// in order; returns the subsample size and the depth limit used.
fn grow_trees(
    data: &[f64],
    rows: usize,
    dimensions: usize,
    trees: usize,
    sample_size: usize,
    seed: u64,
    mut each: impl FnMut(Tree),
) -> (usize, usize) {
    let (sample_size, depth_limit) = limits(rows, sample_size);
    if rows == 0 {
        return (sample_size, depth_limit);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut grower = Grower {
        data,
        dimensions,
        depth_limit,
        ranges: Vec::with_capacity(dimensions),
        scratch: Vec::with_capacity(sample_size),
    };
    let mut sample: Vec<u32> = Vec::with_capacity(sample_size);
    for _ in 0..trees.max(1) {
        sample.clear();
        sample.extend(index::sample(&mut rng, rows, sample_size).iter().map(|i| i as u32));
        let mut tree = Tree { nodes: Vec::with_capacity(2 * sample_size) };
        grower.grow(&mut tree, &mut sample, 0, &mut rng);
        each(tree);
    }
    (sample_size, depth_limit)
}

/// Adds the path length in `tree` of each point of `data` (`d` features each) to its total.
fn accumulate(tree: &Tree, totals: &mut [f64], data: &[f64], d: usize, depth_limit: usize) {
    match d {
        0 => {
            for total in totals.iter_mut() {
                *total += tree.path_length(|_| 0.0);
            }
        }
        // The batch detector's case, with fixed-size rows.
        4 => accumulate_rows::<4>(tree, totals, data, depth_limit),
        _ => {
            for (i, total) in totals.iter_mut().enumerate() {
                *total += tree.path_length(|f| data[i * d + f]);
            }
        }
    }
}

/// [`accumulate`] for rows of `D` features.
fn accumulate_rows<const D: usize>(tree: &Tree, totals: &mut [f64], data: &[f64], depth_limit: usize) {
    // Several points walk the tree in lockstep: their walks are independent, so the processor
    // overlaps them instead of waiting on one chain of loads. Leaves lead back to themselves.
    const LANES: usize = 16;
    for (totals, data) in totals.chunks_mut(LANES).zip(data.chunks(LANES * D)) {
        let mut at = [0u32; LANES];
        for _ in 0..depth_limit {
            for (at, row) in at.iter_mut().zip(data.chunks_exact(D)) {
                let node = &tree.nodes[*at as usize];
                // Features are below D (a leaf's reads any and leads back to the leaf anyway); the
                // remainder spares a bounds check.
                let value = row[node.feature as usize % D];
                *at = node.children[if value < node.value { 0 } else { 1 }];
            }
        }
        for (total, &at) in totals.iter_mut().zip(&at) {
            *total += tree.nodes[at as usize].value;
        }
    }
}

/// The score of a point whose path lengths over `trees` trees add up to `total_path`.
fn score_of(total_path: f64, trees: usize, sample_size: usize) -> f64 {
    let mean_path = total_path / trees as f64;
    let normaliser = average_path_length(sample_size);
    if normaliser <= 0.0 {
        return 0.5;
    }
    2f64.powf(-mean_path / normaliser)
}

impl Grower<'_> {
    /// Appends the subtree for the rows `rows` (indices into `data`, reordered in place) to `tree`.
    fn grow(&mut self, tree: &mut Tree, rows: &mut [u32], depth: usize, rng: &mut StdRng) {
        let at = tree.nodes.len();
        let leaf = |tree: &mut Tree| {
            // The same sum the walk of the original scorer made: 1.0 per level, then `c`.
            let path = (0..depth).fold(0.0, |path: f64, _| path + 1.0) + average_path_length(rows.len());
            tree.nodes.push(Node { value: path, children: [at as u32; 2], feature: LEAF });
        };
        if rows.len() <= 1 || depth >= self.depth_limit {
            return leaf(tree);
        }
        // Only features that vary among these rows can be cut.
        let (data, d) = (self.data, self.dimensions);
        self.ranges.clear();
        if d == 4 {
            // The batch detector's case, with the running ranges in registers.
            self.ranges.extend(feature_ranges::<4>(data, rows));
        } else {
            self.ranges.extend((0..d).map(|f| (f, f64::INFINITY, f64::NEG_INFINITY)));
            for &r in rows.iter() {
                let row = &data[r as usize * d..(r as usize + 1) * d];
                for ((_, lo, hi), &v) in self.ranges.iter_mut().zip(row) {
                    *lo = lo.min(v);
                    *hi = hi.max(v);
                }
            }
        }
        self.ranges.retain(|&(_, lo, hi)| hi > lo);
        if self.ranges.is_empty() {
            return leaf(tree);
        }
        tree.nodes.push(Node { value: 0.0, children: [0; 2], feature: LEAF });
        let (feature, lo, hi) = self.ranges[rng.random_range(0..self.ranges.len())];
        let threshold = rng.random_range(lo..hi);
        // A stable partition, so the rows keep the order the original grower saw them in: the left
        // rows move forward in place, the right ones wait in `scratch`.
        // Without branches: a random cut sends rows either way unpredictably.
        self.scratch.resize(rows.len(), 0);
        let (mut left_len, mut right_len) = (0, 0);
        for i in 0..rows.len() {
            let r = rows[i];
            let left = data[r as usize * d + feature] < threshold;
            rows[left_len] = r;
            self.scratch[right_len] = r;
            left_len += usize::from(left);
            right_len += usize::from(!left);
        }
        self.scratch.truncate(right_len);
        rows[left_len..].copy_from_slice(&self.scratch);
        let (left_rows, right_rows) = rows.split_at_mut(left_len);
        self.grow(tree, left_rows, depth + 1, rng);
        let right = tree.nodes.len() as u32;
        self.grow(tree, right_rows, depth + 1, rng);
        tree.nodes[at] = Node { value: threshold, children: [at as u32 + 1, right], feature: feature as u32 };
    }
}

/// `(feature, lowest, highest)` of each of the `D` features over `rows` of `data`.
fn feature_ranges<const D: usize>(data: &[f64], rows: &[u32]) -> [(usize, f64, f64); D] {
    let mut lo = [f64::INFINITY; D];
    let mut hi = [f64::NEG_INFINITY; D];
    for &r in rows {
        let start = r as usize * D;
        let row: &[f64; D] = data[start..start + D].try_into().expect("D features per row");
        for f in 0..D {
            lo[f] = lo[f].min(row[f]);
            hi[f] = hi[f].max(row[f]);
        }
    }
    std::array::from_fn(|f| (f, lo[f], hi[f]))
}

impl Tree {
    /// The path length of the point whose feature `f` is `feature(f)`.
    fn path_length(&self, feature: impl Fn(usize) -> f64) -> f64 {
        let mut node = 0;
        loop {
            let Node { value, children, feature: f } = self.nodes[node];
            if f == LEAF {
                return value;
            }
            node = children[if feature(f as usize) < value { 0 } else { 1 }] as usize;
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
