//! The menu catalog the generator sells from (brands, menus, categories, items with prices),
//! in the original's dimensional layout: our own catalog compiled in from
//! `configs/catalog.json`, the original's `*.parquet` files via `--catalog DIR`, and
//! [`write_dimension_tables`], which writes a catalog back out as those four Parquet tables
//! for the lake.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use super::output::write_atomically;
use super::GeneratorError;

const BUILTIN_JSON: &str = include_str!("../../configs/catalog.json");

/// A brand (one virtual restaurant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Brand {
    /// Brand id, dense from 1.
    pub id: i64,
    /// Brand name.
    pub name: String,
}

/// A brand's menu (the original has one per brand, with `id == brand_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Menu {
    /// Menu id.
    pub id: i64,
    /// Owning brand.
    pub brand_id: i64,
    /// Menu name.
    pub name: String,
}

/// A menu category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Category id, dense from 1.
    pub id: i64,
    /// Menu of the category.
    pub menu_id: i64,
    /// Brand of the category (the menu's brand).
    pub brand_id: i64,
    /// Category name.
    pub name: String,
}

/// A sellable item; `menu_id`/`brand_id` always agree with its category's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// Item id, dense from 1.
    pub id: i64,
    /// Category of the item.
    pub category_id: i64,
    /// Menu of the item.
    pub menu_id: i64,
    /// Brand of the item.
    pub brand_id: i64,
    /// Item name (not unique; may be non-ASCII).
    pub name: String,
    /// Unit price in dollars, at most two decimals.
    pub price: f64,
}

/// The four dimension tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Brands.
    pub brands: Vec<Brand>,
    /// Menus.
    pub menus: Vec<Menu>,
    /// Categories.
    pub categories: Vec<Category>,
    /// Items.
    pub items: Vec<CatalogItem>,
}

impl Catalog {
    /// Our own catalog, `configs/catalog.json`, compiled in.
    pub fn builtin() -> Catalog {
        // The file is part of the source tree and checked by a unit test, so a parse failure
        // here is a build defect, not an input error.
        Catalog::from_json(BUILTIN_JSON).expect("configs/catalog.json is a valid catalog")
    }

    /// Parses and validates a catalog in our JSON layout.
    pub fn from_json(text: &str) -> Result<Catalog, String> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| e.to_string())?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// Loads `brands.parquet`, `menus.parquet`, `categories.parquet` and `items.parquet` from
    /// `dir` (the original's `data/dimensional/` layout).
    pub fn load_parquet_dir(dir: &Path) -> Result<Catalog, GeneratorError> {
        let brands = read_table(dir, "brands", |t, i| {
            Ok(Brand {
                id: t.int("id", i)?,
                name: t.string("name", i)?,
            })
        })?;
        let menus = read_table(dir, "menus", |t, i| {
            Ok(Menu {
                id: t.int("id", i)?,
                brand_id: t.int("brand_id", i)?,
                name: t.string("name", i)?,
            })
        })?;
        let categories = read_table(dir, "categories", |t, i| {
            Ok(Category {
                id: t.int("id", i)?,
                menu_id: t.int("menu_id", i)?,
                brand_id: t.int("brand_id", i)?,
                name: t.string("name", i)?,
            })
        })?;
        let items = read_table(dir, "items", |t, i| {
            Ok(CatalogItem {
                id: t.int("id", i)?,
                category_id: t.int("category_id", i)?,
                menu_id: t.int("menu_id", i)?,
                brand_id: t.int("brand_id", i)?,
                name: t.string("name", i)?,
                price: t.float("price", i)?,
            })
        })?;
        let catalog = Catalog {
            brands,
            menus,
            categories,
            items,
        };
        catalog
            .validate()
            .map_err(|reason| GeneratorError::Catalog {
                path: dir.to_path_buf(),
                reason,
            })?;
        Ok(catalog)
    }

    /// Checks ids are unique and every item agrees with its category, menu and brand.
    pub fn validate(&self) -> Result<(), String> {
        let mut brands = BTreeMap::new();
        for b in &self.brands {
            if brands.insert(b.id, b).is_some() {
                return Err(format!("duplicate brand id {}", b.id));
            }
        }
        let mut menus = BTreeMap::new();
        for m in &self.menus {
            if !brands.contains_key(&m.brand_id) {
                return Err(format!("menu {} names unknown brand {}", m.id, m.brand_id));
            }
            if menus.insert(m.id, m).is_some() {
                return Err(format!("duplicate menu id {}", m.id));
            }
        }
        let mut categories = BTreeMap::new();
        for c in &self.categories {
            match menus.get(&c.menu_id) {
                Some(m) if m.brand_id == c.brand_id => {}
                _ => {
                    return Err(format!(
                        "category {} disagrees with menu {}",
                        c.id, c.menu_id
                    ))
                }
            }
            if categories.insert(c.id, c).is_some() {
                return Err(format!("duplicate category id {}", c.id));
            }
        }
        let mut items = BTreeMap::new();
        for item in &self.items {
            match categories.get(&item.category_id) {
                Some(c) if c.menu_id == item.menu_id && c.brand_id == item.brand_id => {}
                _ => {
                    return Err(format!(
                        "item {} disagrees with category {}",
                        item.id, item.category_id
                    ))
                }
            }
            if !(item.price.is_finite() && item.price >= 0.0) {
                return Err(format!("item {} has price {}", item.id, item.price));
            }
            if items.insert(item.id, item).is_some() {
                return Err(format!("duplicate item id {}", item.id));
            }
        }
        if self.items.is_empty() {
            return Err("the catalog has no items".to_string());
        }
        Ok(())
    }
}

/// One Parquet table's record batches, with typed cell access by column name.
struct Table {
    name: &'static str,
    batch: RecordBatch,
}

impl Table {
    fn column(&self, column: &str) -> Result<&ArrayRef, String> {
        self.batch
            .column_by_name(column)
            .ok_or_else(|| format!("{}: no column {column:?}", self.name))
    }

    fn null_check(&self, array: &dyn Array, column: &str, row: usize) -> Result<(), String> {
        if array.is_null(row) {
            return Err(format!("{}: null {column} in row {row}", self.name));
        }
        Ok(())
    }

    fn int(&self, column: &str, row: usize) -> Result<i64, String> {
        let array = self.column(column)?;
        self.null_check(array, column, row)?;
        if let Some(a) = array.as_any().downcast_ref::<Int64Array>() {
            return Ok(a.value(row));
        }
        if let Some(a) = array.as_any().downcast_ref::<Int32Array>() {
            return Ok(i64::from(a.value(row)));
        }
        Err(format!(
            "{}: column {column} is {}, not an integer",
            self.name,
            array.data_type()
        ))
    }

    fn float(&self, column: &str, row: usize) -> Result<f64, String> {
        let array = self.column(column)?;
        self.null_check(array, column, row)?;
        if let Some(a) = array.as_any().downcast_ref::<Float64Array>() {
            return Ok(a.value(row));
        }
        if let Some(a) = array.as_any().downcast_ref::<Float32Array>() {
            return Ok(f64::from(a.value(row)));
        }
        Err(format!(
            "{}: column {column} is {}, not a float",
            self.name,
            array.data_type()
        ))
    }

    fn string(&self, column: &str, row: usize) -> Result<String, String> {
        let array = self.column(column)?;
        self.null_check(array, column, row)?;
        let any = array.as_any();
        if let Some(a) = any.downcast_ref::<StringArray>() {
            return Ok(a.value(row).to_string());
        }
        if let Some(a) = any.downcast_ref::<LargeStringArray>() {
            return Ok(a.value(row).to_string());
        }
        if let Some(a) = any.downcast_ref::<StringViewArray>() {
            return Ok(a.value(row).to_string());
        }
        Err(format!(
            "{}: column {column} is {}, not a string",
            self.name,
            array.data_type()
        ))
    }
}

fn read_table<T>(
    dir: &Path,
    name: &'static str,
    row: impl Fn(&Table, usize) -> Result<T, String>,
) -> Result<Vec<T>, GeneratorError> {
    let path = dir.join(format!("{name}.parquet"));
    let catalog_err = |reason: String| GeneratorError::Catalog {
        path: path.clone(),
        reason,
    };
    let file = File::open(&path).map_err(|source| GeneratorError::Io {
        path: path.clone(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| catalog_err(e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let table = Table {
            name,
            batch: batch.map_err(|e| catalog_err(e.to_string()))?,
        };
        for i in 0..table.batch.num_rows() {
            rows.push(row(&table, i).map_err(catalog_err)?);
        }
    }
    Ok(rows)
}

fn int64(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values))
}

fn utf8<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn write_table(
    dir: &Path,
    name: &str,
    columns: Vec<(&str, ArrayRef)>,
) -> Result<(), GeneratorError> {
    let path = dir.join(format!("{name}.parquet"));
    let fields: Vec<Field> = columns
        .iter()
        .map(|(column, array)| Field::new(*column, array.data_type().clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| GeneratorError::Catalog {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    let parquet_err = |e: parquet::errors::ParquetError| GeneratorError::Catalog {
        path: path.clone(),
        reason: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).map_err(parquet_err)?;
    writer.write(&batch).map_err(parquet_err)?;
    writer.close().map_err(parquet_err)?;
    write_atomically(&path, &bytes)
}

/// Writes the catalog as the original's four dimension tables, `brands.parquet`
/// (id int64, name), `menus.parquet` (id, brand_id, name), `categories.parquet` (id, menu_id,
/// brand_id, name) and `items.parquet` (id, category_id, menu_id, brand_id, name, price
/// double), into `dir` (created if missing). Each file is written atomically, so a reader
/// never sees half a table; rewriting the same catalog yields identical bytes.
pub fn write_dimension_tables(catalog: &Catalog, dir: &Path) -> Result<(), GeneratorError> {
    std::fs::create_dir_all(dir).map_err(|source| GeneratorError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let c = catalog;
    write_table(
        dir,
        "brands",
        vec![
            ("id", int64(c.brands.iter().map(|b| b.id))),
            ("name", utf8(c.brands.iter().map(|b| b.name.as_str()))),
        ],
    )?;
    write_table(
        dir,
        "menus",
        vec![
            ("id", int64(c.menus.iter().map(|m| m.id))),
            ("brand_id", int64(c.menus.iter().map(|m| m.brand_id))),
            ("name", utf8(c.menus.iter().map(|m| m.name.as_str()))),
        ],
    )?;
    write_table(
        dir,
        "categories",
        vec![
            ("id", int64(c.categories.iter().map(|x| x.id))),
            ("menu_id", int64(c.categories.iter().map(|x| x.menu_id))),
            ("brand_id", int64(c.categories.iter().map(|x| x.brand_id))),
            ("name", utf8(c.categories.iter().map(|x| x.name.as_str()))),
        ],
    )?;
    write_table(
        dir,
        "items",
        vec![
            ("id", int64(c.items.iter().map(|x| x.id))),
            ("category_id", int64(c.items.iter().map(|x| x.category_id))),
            ("menu_id", int64(c.items.iter().map(|x| x.menu_id))),
            ("brand_id", int64(c.items.iter().map(|x| x.brand_id))),
            ("name", utf8(c.items.iter().map(|x| x.name.as_str()))),
            (
                "price",
                Arc::new(Float64Array::from_iter_values(
                    c.items.iter().map(|x| x.price),
                )),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_is_big_enough_and_consistent() {
        let catalog = Catalog::builtin();
        assert!(catalog.brands.len() >= 15);
        assert!(catalog.items.len() >= 140);
        for (i, item) in catalog.items.iter().enumerate() {
            assert_eq!(item.id, i64::try_from(i).unwrap() + 1, "item ids are dense");
            assert_eq!((item.price * 100.0).round() / 100.0, item.price);
        }
        for brand in &catalog.brands {
            let n = catalog
                .items
                .iter()
                .filter(|i| i.brand_id == brand.id)
                .count();
            assert!(n >= 4, "brand {} has only {n} items", brand.name);
        }
    }

    #[test]
    fn validate_rejects_inconsistent_items() {
        let mut catalog = Catalog::builtin();
        catalog.items[0].brand_id += 1;
        assert!(catalog.validate().is_err());
    }

    #[test]
    fn dimension_tables_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::builtin();
        write_dimension_tables(&catalog, dir.path()).unwrap();
        let back = Catalog::load_parquet_dir(dir.path()).unwrap();
        assert_eq!(back, catalog);
    }
}
