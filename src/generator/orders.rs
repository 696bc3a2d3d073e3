//! The order model of the original generator (GENERATOR.md §1.3–§1.9), per location: daily
//! volume (ramp × weekday × noise), the intraday lunch/dinner shape, Poisson arrivals per
//! minute, baskets with brand momentum, stage timings, driver arrival, pings and bodies with
//! `dq` nulling. Randomness comes from [`super::seeding`] streams per day and per order.

use std::sync::Arc;

use caspers_dataflows::model::{EventType, Item};
use caspers_dataflows::money::Money;
use caspers_dataflows::time::{Micros, MICROS_PER_DAY};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Poisson, StandardNormal};

use super::catalog::Catalog;
use super::config::GeneratorConfig;
use super::events::GeneratedEvent;
use super::grid::{StreetGrid, METRES_PER_MILE};
use super::json::{push_float, push_str, py_round};
use super::seeding::{self, day_key, fnv1a, mix, stream, uuid_hex};

const MICROS_PER_MINUTE: f64 = 60_000_000.0;
const MINUTES_PER_DAY: usize = 1440;
/// Weekday volume factors, Monday first (Python's `date.weekday()`).
pub const WEEKDAY_FACTORS: [f64; 7] = [1.00, 1.05, 1.08, 1.10, 1.25, 1.35, 1.15];
/// The intraday bumps: (start minute, end minute, peak multiplier) for lunch 11:00–13:30 and
/// dinner 17:00–20:00 UTC (the original never converted to local time).
pub const PEAKS: [(usize, usize, f64); 2] = [(660, 810, 3.0), (1020, 1200, 3.5)];
/// Probability that a basket comes from a single brand.
const SINGLE_BRAND_P: f64 = 0.7;

/// The catalog's items, pre-encoded once for every location.
#[derive(Debug)]
pub struct Menu {
    /// `{"id": …, …, "price": …, "qty": ` of each catalog item, in catalog order.
    prefixes: Vec<String>,
    /// The item as a model row (qty filled per order).
    items: Vec<Item>,
    /// Sorted distinct brand ids, and the catalog indices of each brand's items.
    brands: Vec<(i64, Vec<usize>)>,
}

impl Menu {
    /// Pre-encodes the catalog's items.
    pub fn new(catalog: &Catalog) -> Menu {
        let mut prefixes = Vec::with_capacity(catalog.items.len());
        let mut items = Vec::with_capacity(catalog.items.len());
        let mut brands: Vec<(i64, Vec<usize>)> = Vec::new();
        for (index, item) in catalog.items.iter().enumerate() {
            let mut p = format!(
                "{{\"id\": {}, \"category_id\": {}, \"menu_id\": {}, \"brand_id\": {}, \"name\": ",
                item.id, item.category_id, item.menu_id, item.brand_id
            );
            push_str(&mut p, &item.name);
            p.push_str(", \"price\": ");
            push_float(&mut p, item.price);
            p.push_str(", \"qty\": ");
            prefixes.push(p);
            let mut price_text = String::new();
            push_float(&mut price_text, item.price);
            items.push(Item {
                id: clamp_i32(item.id),
                category_id: clamp_i32(item.category_id),
                menu_id: clamp_i32(item.menu_id),
                brand_id: clamp_i32(item.brand_id),
                name: item.name.clone(),
                price: Money::parse_decimal(&price_text).unwrap_or(Money::ZERO),
                qty: 0,
            });
            match brands.iter_mut().find(|(id, _)| *id == item.brand_id) {
                Some((_, list)) => list.push(index),
                None => brands.push((item.brand_id, vec![index])),
            }
        }
        brands.sort_by_key(|(id, _)| *id);
        Menu {
            prefixes,
            items,
            brands,
        }
    }
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// Momentum class of a brand.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Momentum {
    Improving,
    Flat,
    Declining,
}

/// A brand as one location sees it: its momentum class and items.
#[derive(Clone, Debug)]
struct BrandPlan {
    momentum: Momentum,
    items: Vec<usize>,
}

/// An order's arrival: when it was created and its index within its day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Creation time (whole seconds).
    pub ts: Micros,
    /// Index of the order within its day, in generation order.
    pub index: u64,
}

/// Body fields per event type, in the original's key order (the `dq` map names these).
const BODY_FIELDS: [(EventType, &[&str]); 4] = [
    (
        EventType::OrderCreated,
        &["customer_lat", "customer_lon", "customer_addr", "items"],
    ),
    (EventType::DriverPickedUp, &["route_points", "eta_mins"]),
    (
        EventType::DriverPing,
        &["progress_pct", "loc_lat", "loc_lon"],
    ),
    (EventType::Delivered, &["delivered_lat", "delivered_lon"]),
];

/// One location's generator: its config, street grid, brand plan and distributions.
#[derive(Debug)]
pub struct Location {
    /// The config this location was built from.
    pub config: GeneratorConfig,
    /// Stream key: hash of the seed and the location name.
    key: u64,
    /// Ghost-kitchen id, fixed per (seed, location).
    pub gk_id: Arc<str>,
    /// `location_name`.
    pub name: Arc<str>,
    /// Customers and routes.
    grid: StreetGrid,
    /// Brands in the shuffled order the momentum split was applied to.
    brands: Vec<BrandPlan>,
    /// First calendar day of the window (days since the epoch); day index 0.
    pub first_day: i64,
    /// Last day index (the window is `0..=total_days`).
    pub total_days: i64,
    /// Normalised intraday weights `w[m] / Σw`.
    intraday: Vec<f64>,
    /// Driver arrival fraction.
    arrival_beta: Beta<f64>,
    /// `dq` probabilities aligned with [`BODY_FIELDS`], one list per entry.
    dq: [Vec<f64>; 4],
    /// Seconds between pings.
    ping_sec: f64,
}

/// Python's `math.floor` of a finite f64 into an i64 (saturating, which the validated ranges
/// never reach).
fn floor_i64(x: f64) -> i64 {
    x.floor() as i64
}

/// A duration in minutes as whole µs, as Python's `timedelta(minutes=x)` rounds it.
fn minutes(x: f64) -> Micros {
    (x * MICROS_PER_MINUTE).round() as i64
}

impl Location {
    /// Builds a location for `now`; `seed` overrides the config's `random_seed`.
    pub fn new(config: &GeneratorConfig, menu: &Menu, now: Micros, seed: Option<u64>) -> Location {
        let seed = seed.unwrap_or(config.random_seed);
        let key = mix(seed, fnv1a(&config.location_name));
        let mut setup = stream(&[key, seeding::SETUP]);
        let gk_id: Arc<str> = Arc::from(uuid_hex(&mut setup));
        let (lat, lon) = config.kitchen().unwrap_or((0.0, 0.0));
        let grid = StreetGrid::new(lat, lon, config.radius_mi, &mut setup);

        let mut order: Vec<usize> = (0..menu.brands.len()).collect();
        order.shuffle(&mut setup);
        let n = order.len() as f64;
        let m = &config.brand_momentum;
        // int() truncation of the cumulative fractions, as the original splits the list.
        let cut_improving = usize::try_from(floor_i64(m.improving * n)).unwrap_or(0);
        let cut_flat = usize::try_from(floor_i64((m.improving + m.flat) * n)).unwrap_or(0);
        let brands = order
            .iter()
            .enumerate()
            .map(|(rank, b)| BrandPlan {
                momentum: if rank < cut_improving {
                    Momentum::Improving
                } else if rank < cut_flat {
                    Momentum::Flat
                } else {
                    Momentum::Declining
                },
                items: menu.brands[*b].1.clone(),
            })
            .collect();

        let start = now - (config.start_days_ago * MICROS_PER_DAY as f64).round() as i64;
        let end = now + (config.end_days_ahead * MICROS_PER_DAY as f64).round() as i64;
        let first_day = start.div_euclid(MICROS_PER_DAY);
        let total_days = end.div_euclid(MICROS_PER_DAY) - first_day;

        let mut w = vec![1.0f64; MINUTES_PER_DAY];
        for (begin, end, mult) in PEAKS {
            for (m, weight) in w.iter_mut().enumerate().take(end).skip(begin) {
                let x = (m - begin) as f64 / (end - begin) as f64;
                *weight += (mult - 1.0) * (std::f64::consts::PI * x).sin().powi(2);
            }
        }
        let sum: f64 = w.iter().sum();
        let intraday = w.iter().map(|x| x / sum).collect();

        let mut dq: [Vec<f64>; 4] = Default::default();
        for (slot, (event_type, fields)) in dq.iter_mut().zip(BODY_FIELDS) {
            if let Some(probs) = config.dq.get(event_type.as_str()) {
                *slot = fields
                    .iter()
                    .map(|f| probs.get(*f).copied().unwrap_or(0.0))
                    .collect();
            }
        }
        let da = &config.driver_arrival;
        Location {
            config: config.clone(),
            key,
            gk_id,
            name: Arc::from(config.location_name.as_str()),
            grid,
            brands,
            first_day,
            total_days,
            intraday,
            // Validated positive, so construction cannot fail; fall back to Beta(1, 1) anyway.
            arrival_beta: Beta::new(da.alpha, da.beta)
                .unwrap_or_else(|_| Beta::new(1.0, 1.0).expect("Beta(1, 1) is valid")),
            dq,
            ping_sec: config.ping_sec,
        }
    }

    /// Calendar days (days since the epoch) this location generates orders on.
    pub fn days(&self) -> std::ops::RangeInclusive<i64> {
        self.first_day..=self.first_day + self.total_days
    }

    /// Expected orders on day index `d` before noise: ramp × weekday factor.
    pub fn expected_orders(&self, d: i64) -> f64 {
        let c = &self.config;
        let ramp = if self.total_days > 0 {
            d as f64 / self.total_days as f64
        } else {
            0.0
        };
        let day = self.first_day + d;
        // 1970-01-01 was a Thursday (weekday 3).
        let weekday = usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0);
        (c.orders_day_1 + (c.orders_last - c.orders_day_1) * ramp) * WEEKDAY_FACTORS[weekday]
    }

    /// The orders created on calendar `day` (none outside the window), in generation order:
    /// minute by minute, a Poisson count each, each order at a random whole second.
    pub fn arrivals(&self, day: i64) -> Vec<Arrival> {
        if !self.days().contains(&day) {
            return Vec::new();
        }
        let d = day - self.first_day;
        let mut rng = stream(&[self.key, seeding::DAY, day_key(day)]);
        let noise = self.config.noise_pct / 100.0;
        let factor = 1.0 - noise + 2.0 * noise * rng.random::<f64>();
        let today = self.expected_orders(d) * factor;
        let midnight = day * MICROS_PER_DAY;
        let mut out = Vec::with_capacity(floor_i64(today * 1.2).max(0).try_into().unwrap_or(0));
        for (m, w) in self.intraday.iter().enumerate() {
            let lambda = today * w;
            let Ok(poisson) = Poisson::new(lambda) else {
                continue;
            };
            let k = floor_i64(poisson.sample(&mut rng));
            for _ in 0..k {
                let second = rng.random_range(0..60i64);
                let ts = midnight + (i64::try_from(m).unwrap_or(0) * 60 + second) * 1_000_000;
                let index = u64::try_from(out.len()).unwrap_or(u64::MAX);
                out.push(Arrival { ts, index });
            }
        }
        out
    }

    fn brand_weights(&self, d: i64) -> Vec<f64> {
        let rates = &self.config.momentum_rates;
        let months = d as f64 / 30.0;
        let improving = (1.0 + rates.growth).powf(months);
        let declining = (1.0 - rates.decline).powf(months);
        let mut total = 0.0;
        self.brands
            .iter()
            .map(|b| {
                total += match b.momentum {
                    Momentum::Improving => improving,
                    Momentum::Flat => 1.0,
                    Momentum::Declining => declining,
                };
                total
            })
            .collect()
    }

    /// Appends the full lifecycle of the order `arrival` on calendar `day` to `out`. `live`
    /// adds `sequence` µs to every timestamp, as the original's live path does.
    pub fn build_order(
        &self,
        menu: &Menu,
        day: i64,
        arrival: Arrival,
        live: bool,
        out: &mut Vec<GeneratedEvent>,
    ) {
        let d = day - self.first_day;
        let mut rng = stream(&[self.key, seeding::ORDER, day_key(day), arrival.index]);
        let order_id: Arc<str> = Arc::from(uuid_hex(&mut rng));

        // Basket: one brand with p = 0.7, else 2–4 brand picks with replacement, each
        // contributing 1–4 distinct items with qty 1–3.
        let cumulative = self.brand_weights(d);
        let total = cumulative.last().copied().unwrap_or(1.0);
        let picks = if rng.random::<f64>() < SINGLE_BRAND_P {
            1
        } else {
            rng.random_range(2..=4)
        };
        let mut basket: Vec<(usize, i32)> = Vec::new();
        for _ in 0..picks {
            let r = rng.random::<f64>() * total;
            let b = cumulative
                .partition_point(|c| *c <= r)
                .min(self.brands.len() - 1);
            let items = &self.brands[b].items;
            let k = rng.random_range(1..=4usize).min(items.len());
            for item in items.choose_multiple(&mut rng, k) {
                basket.push((*item, rng.random_range(1..=3)));
            }
        }

        let node = self.grid.random_node(&mut rng);
        let (cust_lat, cust_lon) = self.grid.coords(node.row, node.col);

        let svc = &self.config.svc;
        let gauss = |[mu, sigma]: [f64; 2], rng: &mut ChaCha8Rng| {
            let z: f64 = StandardNormal.sample(rng);
            (mu + sigma * z).max(0.1)
        };
        let created = arrival.ts;
        let started = created + minutes(gauss(svc.cs, &mut rng));
        let finished = started + minutes(gauss(svc.sf, &mut rng));
        let ready = finished + minutes(gauss(svc.fr, &mut rng));
        let picked = ready + minutes(gauss(svc.rp, &mut rng));
        let beta = self.arrival_beta.sample(&mut rng);
        let mut arrived = if rng.random::<f64>() < self.config.driver_arrival.after_ready_pct {
            ready + ((picked - ready) as f64 * beta).round() as i64
        } else {
            created + ((ready - created) as f64 * beta).round() as i64
        };
        if arrived >= picked {
            arrived = picked - 1;
        }
        let drive_min =
            self.grid.route_metres(node) / METRES_PER_MILE / self.config.driver_mph * 60.0;
        let delivered = picked + minutes(drive_min);
        let hops = floor_i64(drive_min * 60.0 / self.ping_sec).max(1);

        let mut dq_rng = stream(&[self.key, seeding::DQ, day_key(day), arrival.index]);
        let mut seq = 0i64;
        let mut emit = |event_type: EventType,
                        ts: Micros,
                        body: String,
                        items: Vec<Item>,
                        rng: &mut ChaCha8Rng| {
            out.push(GeneratedEvent {
                ts: if live { ts + seq } else { ts },
                event_type,
                sequence: seq,
                event_id: uuid_hex(rng),
                order_id: order_id.clone(),
                gk_id: self.gk_id.clone(),
                location: self.name.clone(),
                body,
                items,
            });
            seq += 1;
        };

        // order_created
        let nulls = self.nulls(0, &mut dq_rng);
        let mut body = Body::new(&nulls);
        body.float("customer_lat", cust_lat);
        body.float("customer_lon", cust_lon);
        body.field("customer_addr", |o| push_str(o, &node.address));
        let mut items = Vec::new();
        body.field("items", |o| {
            o.push('[');
            for (i, (item, qty)) in basket.iter().enumerate() {
                if i > 0 {
                    o.push_str(", ");
                }
                o.push_str(&menu.prefixes[*item]);
                o.push_str(&qty.to_string());
                o.push('}');
                items.push(Item {
                    qty: *qty,
                    ..menu.items[*item].clone()
                });
            }
            o.push(']');
        });
        emit(
            EventType::OrderCreated,
            created,
            body.finish(),
            items,
            &mut rng,
        );
        for (event_type, ts) in [
            (EventType::GkStarted, started),
            (EventType::GkFinished, finished),
            (EventType::GkReady, ready),
            (EventType::DriverArrived, arrived),
        ] {
            emit(event_type, ts, "{}".to_string(), Vec::new(), &mut rng);
        }

        let nulls = self.nulls(1, &mut dq_rng);
        let mut body = Body::new(&nulls);
        body.field("route_points", |o| self.grid.push_route_json(o, node));
        body.float("eta_mins", py_round(drive_min, 1));
        emit(
            EventType::DriverPickedUp,
            picked,
            body.finish(),
            Vec::new(),
            &mut rng,
        );

        let last_point = self.grid.route_len(node) - 1;
        for h in 1..hops {
            let p = h as f64 / hops as f64;
            let ts = picked + (h as f64 * self.ping_sec * 1e6).round() as i64;
            let point = usize::try_from(floor_i64(p * last_point as f64)).unwrap_or(0);
            let (lat, lon) = self.grid.route_coords(node, point);
            let nulls = self.nulls(2, &mut dq_rng);
            let mut body = Body::new(&nulls);
            body.float("progress_pct", py_round(p * 100.0, 1));
            body.float("loc_lat", lat);
            body.float("loc_lon", lon);
            emit(
                EventType::DriverPing,
                ts,
                body.finish(),
                Vec::new(),
                &mut rng,
            );
        }

        let nulls = self.nulls(3, &mut dq_rng);
        let mut body = Body::new(&nulls);
        body.float("delivered_lat", cust_lat);
        body.float("delivered_lon", cust_lon);
        emit(
            EventType::Delivered,
            delivered,
            body.finish(),
            Vec::new(),
            &mut rng,
        );
    }

    /// Which body fields of [`BODY_FIELDS`] entry `which` to null (the original's
    /// `maybe_corrupt`); draws nothing when `dq` does not name the event type.
    fn nulls(&self, which: usize, rng: &mut ChaCha8Rng) -> Vec<bool> {
        self.dq[which]
            .iter()
            .map(|p| rng.random::<f64>() < *p)
            .collect()
    }
}

/// Writes one body object field by field, replacing a field's value by `null` where `dq`
/// says so.
struct Body<'a> {
    out: String,
    nulls: &'a [bool],
    next: usize,
}

impl<'a> Body<'a> {
    fn new(nulls: &'a [bool]) -> Body<'a> {
        let mut out = String::with_capacity(128);
        out.push('{');
        Body {
            out,
            nulls,
            next: 0,
        }
    }

    fn field(&mut self, name: &str, value: impl FnOnce(&mut String)) {
        if self.next > 0 {
            self.out.push_str(", ");
        }
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\": ");
        if self.nulls.get(self.next).copied().unwrap_or(false) {
            self.out.push_str("null");
        } else {
            value(&mut self.out);
        }
        self.next += 1;
    }

    fn float(&mut self, name: &str, x: f64) {
        self.field(name, |o| push_float(o, x));
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}
