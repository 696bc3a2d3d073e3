//! The synthetic street grid that replaces the original's OpenStreetMap download: a
//! Manhattan grid of named streets around the kitchen, clipped to `radius_mi`. Customers are
//! grid intersections (uniform over intersections, as the original was uniform over road
//! nodes), addresses are `"<number> <street>"` on one of the two crossing streets, and a route
//! is an L-shaped path through every intersection on the way, so route points, pings and
//! drive times keep the original's shape without any network access.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::json::push_float;

/// Metres per degree of latitude (spherical Earth, as good as the grid needs).
const METRES_PER_DEGREE: f64 = 111_320.0;
/// Metres per mile, the original's constant.
pub const METRES_PER_MILE: f64 = 1609.34;
/// Block length between two east–west streets (north–south step).
const BLOCK_NS_M: f64 = 110.0;
/// Block length between two north–south avenues (east–west step).
const BLOCK_EW_M: f64 = 150.0;

/// Base names of the east–west streets; shuffled per location.
const STREET_NAMES: [&str; 60] = [
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Walnut",
    "Willow",
    "Birch",
    "Chestnut",
    "Spruce",
    "Laurel",
    "Magnolia",
    "Sycamore",
    "Juniper",
    "Cypress",
    "Alder",
    "Hawthorn",
    "Poplar",
    "Linden",
    "Hickory",
    "Washington",
    "Jefferson",
    "Madison",
    "Monroe",
    "Jackson",
    "Lincoln",
    "Grant",
    "Franklin",
    "Adams",
    "Harrison",
    "Market",
    "Mission",
    "Union",
    "Harbor",
    "Bay",
    "Ridge",
    "Valley",
    "Lake",
    "Park",
    "Church",
    "Mill",
    "Spring",
    "Summit",
    "Garden",
    "Orchard",
    "Meadow",
    "Prospect",
    "Highland",
    "Sunset",
    "Clay",
    "Fulton",
    "Grove",
    "Hayes",
    "Irving",
    "Kearny",
    "Lombard",
    "Octavia",
    "Polk",
    "Stockton",
    "Vallejo",
];
const STREET_SUFFIXES: [&str; 4] = ["St", "Way", "Blvd", "Pl"];

/// One intersection a customer can live at: grid coordinates relative to the kitchen
/// (north and east positive), its address, and which leg the route drives first.
#[derive(Clone, Debug)]
pub struct Node {
    /// Rows north of the kitchen's street.
    pub row: i32,
    /// Columns east of the kitchen's avenue.
    pub col: i32,
    /// `"<number> <street>"`, fixed per intersection like a real building.
    pub address: String,
    /// Whether the route drives north/south before east/west.
    pub ns_first: bool,
}

/// A street grid centred on one kitchen.
#[derive(Clone, Debug)]
pub struct StreetGrid {
    /// Grid half-width in rows and columns; rows and columns run over `-half..=half`.
    half: i32,
    /// Latitude of each row, index `row + half`.
    lats: Vec<f64>,
    /// Longitude of each column, index `col + half`.
    lons: Vec<f64>,
    /// Python `repr` of each row's latitude (routes are concatenations of these).
    lat_text: Vec<String>,
    /// Python `repr` of each column's longitude.
    lon_text: Vec<String>,
    /// Every intersection within the radius except the kitchen's own.
    nodes: Vec<Node>,
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn repr(x: f64) -> String {
    let mut s = String::new();
    push_float(&mut s, x);
    s
}

fn index(v: i32, half: i32) -> usize {
    usize::try_from(v + half).unwrap_or(0)
}

impl StreetGrid {
    /// Builds the grid around `(lat, lon)` with customers within `radius_mi`; street names
    /// and house numbers come from `rng`, so they are fixed per (seed, location).
    pub fn new(lat: f64, lon: f64, radius_mi: f64, rng: &mut ChaCha8Rng) -> StreetGrid {
        let radius_m = radius_mi * METRES_PER_MILE;
        let dlat = BLOCK_NS_M / METRES_PER_DEGREE;
        let dlon = BLOCK_EW_M / (METRES_PER_DEGREE * lat.to_radians().cos().max(0.01));
        let rows = (radius_m / BLOCK_NS_M).floor();
        let cols = (radius_m / BLOCK_EW_M).floor();
        // At least one block, at most ~10k blocks each way: the radius is validated positive.
        // Clamped, so the cast is exact.
        let half = rows.max(cols).clamp(1.0, 10_000.0) as i32;
        let span = usize::try_from(2 * half + 1).unwrap_or(1);
        let steps: Vec<f64> = (-half..=half).map(f64::from).collect();
        let lats: Vec<f64> = steps.iter().map(|i| lat + i * dlat).collect();
        let lons: Vec<f64> = steps.iter().map(|j| lon + j * dlon).collect();
        let mut bases: Vec<&str> = STREET_NAMES.to_vec();
        bases.shuffle(rng);
        let street_names: Vec<String> = (0..span)
            .map(|k| {
                let base = bases[k % bases.len()];
                let round = k / bases.len();
                let suffix = STREET_SUFFIXES[round % STREET_SUFFIXES.len()];
                match round / STREET_SUFFIXES.len() {
                    0 => format!("{base} {suffix}"),
                    n => format!("{} {base} {suffix}", ordinal(n + 1)),
                }
            })
            .collect();
        let mut nodes = Vec::new();
        for row in -half..=half {
            for col in -half..=half {
                let north = f64::from(row) * BLOCK_NS_M;
                let east = f64::from(col) * BLOCK_EW_M;
                if (row, col) == (0, 0) || north.hypot(east) > radius_m {
                    continue;
                }
                // House numbers grow by 100 per block from the grid's south-west corner, odd
                // and even sides alike, as in most US cities.
                let on_street = rng.random::<bool>();
                let within_block = rng.random_range(1..100usize);
                let address = if on_street {
                    let block = index(col, half) + 1;
                    format!(
                        "{} {}",
                        block * 100 + within_block,
                        street_names[index(row, half)]
                    )
                } else {
                    let block = index(row, half) + 1;
                    format!(
                        "{} {} Ave",
                        block * 100 + within_block,
                        ordinal(index(col, half) + 1)
                    )
                };
                nodes.push(Node {
                    row,
                    col,
                    address,
                    ns_first: rng.random::<bool>(),
                });
            }
        }
        StreetGrid {
            half,
            lat_text: lats.iter().map(|x| repr(*x)).collect(),
            lon_text: lons.iter().map(|x| repr(*x)).collect(),
            lats,
            lons,
            nodes,
        }
    }

    /// Number of customer intersections.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the grid has no customer intersections (never, for a positive radius).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A uniformly random customer intersection.
    pub fn random_node(&self, rng: &mut ChaCha8Rng) -> &Node {
        &self.nodes[rng.random_range(0..self.nodes.len())]
    }

    /// Latitude and longitude of an intersection.
    pub fn coords(&self, row: i32, col: i32) -> (f64, f64) {
        (
            self.lats[index(row, self.half)],
            self.lons[index(col, self.half)],
        )
    }

    /// Route length in metres from the kitchen to `node` (both legs).
    pub fn route_metres(&self, node: &Node) -> f64 {
        f64::from(node.row.abs()) * BLOCK_NS_M + f64::from(node.col.abs()) * BLOCK_EW_M
    }

    /// Number of route points, kitchen and customer included.
    pub fn route_len(&self, node: &Node) -> usize {
        usize::try_from(node.row.abs() + node.col.abs()).unwrap_or(0) + 1
    }

    /// Grid coordinates of route point `k` (0 = kitchen, `route_len - 1` = customer).
    fn route_point(&self, node: &Node, k: usize) -> (i32, i32) {
        let k = i32::try_from(k).unwrap_or(i32::MAX);
        let (first, second) = if node.ns_first {
            (node.row, node.col)
        } else {
            (node.col, node.row)
        };
        let (a, b) = if k <= first.abs() {
            (first.signum() * k, 0)
        } else {
            (first, second.signum() * (k - first.abs()).min(second.abs()))
        };
        if node.ns_first {
            (a, b)
        } else {
            (b, a)
        }
    }

    /// Latitude and longitude of route point `k`.
    pub fn route_coords(&self, node: &Node, k: usize) -> (f64, f64) {
        let (row, col) = self.route_point(node, k);
        self.coords(row, col)
    }

    /// Appends the route as Python would print `[[lat, lon], ...]`.
    pub fn push_route_json(&self, out: &mut String, node: &Node) {
        out.push('[');
        for k in 0..self.route_len(node) {
            if k > 0 {
                out.push_str(", ");
            }
            let (row, col) = self.route_point(node, k);
            out.push('[');
            out.push_str(&self.lat_text[index(row, self.half)]);
            out.push_str(", ");
            out.push_str(&self.lon_text[index(col, self.half)]);
            out.push(']');
        }
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn grid() -> StreetGrid {
        StreetGrid::new(
            37.791024,
            -122.392865,
            4.0,
            &mut ChaCha8Rng::seed_from_u64(7),
        )
    }

    #[test]
    fn customers_lie_within_the_radius_and_routes_end_there() {
        let g = grid();
        assert!(g.len() > 1000);
        for node in &g.nodes {
            let (lat, lon) = g.coords(node.row, node.col);
            let n = (lat - 37.791024) * METRES_PER_DEGREE;
            let e = (lon + 122.392865) * METRES_PER_DEGREE * 37.791024f64.to_radians().cos();
            assert!(n.hypot(e) <= 4.0 * METRES_PER_MILE + 1.0);
            assert_eq!(g.route_coords(node, 0), (37.791024, -122.392865));
            assert_eq!(g.route_coords(node, g.route_len(node) - 1), (lat, lon));
        }
    }

    #[test]
    fn route_steps_one_block_at_a_time() {
        let g = grid();
        for node in g.nodes.iter().take(500) {
            for k in 1..g.route_len(node) {
                let (r0, c0) = g.route_point(node, k - 1);
                let (r1, c1) = g.route_point(node, k);
                assert_eq!((r1 - r0).abs() + (c1 - c0).abs(), 1, "{node:?} step {k}");
            }
        }
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
