//! GB/T 2260 administrative division codes and the tenant levels they imply.
//!
//! Every code is checked against the county-and-above code table of GB/T 2260 as the Ministry
//! of Civil Affairs publishes it (`data/gbt2260.tsv`, compiled in; its header names the source
//! and version, `scripts/update-divisions.sh` regenerates it), and named from it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// The level of a tenant in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantLevel {
    /// 国家 — the national platform, code 100000.
    National,
    /// 省 — a province, autonomous region or municipality directly under the central government.
    Provincial,
    /// 市 — a prefecture-level city.
    Municipal,
    /// 县 — a county-level division.
    County,
}

impl TenantLevel {
    /// Stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::National => "national",
            Self::Provincial => "provincial",
            Self::Municipal => "municipal",
            Self::County => "county",
        }
    }

    /// Chinese name shown to people.
    #[must_use]
    pub const fn label_zh(self) -> &'static str {
        match self {
            Self::National => "国家级",
            Self::Provincial => "省级",
            Self::Municipal => "市级",
            Self::County => "县级",
        }
    }
}

impl FromStr for TenantLevel {
    type Err = DivisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "national" => Ok(Self::National),
            "provincial" => Ok(Self::Provincial),
            "municipal" => Ok(Self::Municipal),
            "county" => Ok(Self::County),
            _ => Err(DivisionError::UnknownLevel(s.to_owned())),
        }
    }
}

/// Why a code or a nesting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionError {
    /// Not six ASCII digits.
    #[error("行政区划代码应为 6 位数字: {0:?}")]
    Format(String),
    /// The first two digits are not a province of GB/T 2260.
    #[error("行政区划代码的省级部分不存在: {0}")]
    UnknownProvince(String),
    /// Six digits of a known province, but no division of the GB/T 2260 table.
    #[error("行政区划代码 {0} 不在 GB/T 2260 县级以上行政区划代码表中")]
    Unknown(String),
    /// A stored level spelling that is not one of ours.
    #[error("未知的层级: {0}")]
    UnknownLevel(String),
    /// The child cannot sit under that parent.
    #[error("{child} 不能作为 {parent} 的下级")]
    Nesting {
        /// The proposed parent.
        parent: String,
        /// The proposed child.
        child: String,
    },
}

impl DivisionError {
    /// The rule a field error names: `format` for text that is no code, `unknown` for a code
    /// that names no division.
    #[must_use]
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Format(_) | Self::UnknownLevel(_) => "format",
            Self::UnknownProvince(_) | Self::Unknown(_) => "unknown",
            Self::Nesting { .. } => "nesting",
        }
    }
}

/// The national platform's code.
pub const NATIONAL_CODE: &str = "100000";

/// The code table as shipped: `#` comment lines (source, version, licence), a `code\tname`
/// header, then one division a line.
pub const TABLE_TSV: &str = include_str!("../data/gbt2260.tsv");

/// The table's source line (its second comment line), for operators and the docs.
#[must_use]
pub fn table_source() -> &'static str {
    TABLE_TSV.lines().filter_map(|l| l.strip_prefix("# ")).nth(1).unwrap_or("")
}

/// Code → name, parsed once from [`TABLE_TSV`].
static TABLE: LazyLock<HashMap<[u8; 6], &'static str>> = LazyLock::new(|| {
    TABLE_TSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(code, name)| Some((<[u8; 6]>::try_from(code.as_bytes()).ok()?, name.trim())))
        .filter(|(code, _)| code.iter().all(u8::is_ascii_digit))
        .collect()
});

/// How many divisions the table holds.
#[must_use]
pub fn table_len() -> usize {
    TABLE.len()
}

/// The full name of a division code in the table, province first (`370112` →
/// 山东省济南市历城区); `None` for text that is no code of the table.
#[must_use]
pub fn full_name_of(code: &str) -> Option<String> {
    DivisionCode::parse_stored(code).ok()?.full_name()
}

/// The name of a division code in the table (`370112` → 历城区), `None` for a code the table
/// does not hold (the national code included).
#[must_use]
pub fn name_of(code: &str) -> Option<&'static str> {
    <[u8; 6]>::try_from(code.as_bytes()).ok().and_then(|c| TABLE.get(&c).copied())
}

/// The two-digit province prefixes of GB/T 2260 (including 71 台湾, 81 香港, 82 澳门).
const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
];

/// A checked six-digit division code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DivisionCode([u8; 6]);

impl DivisionCode {
    /// Parses a code and checks it against the GB/T 2260 table: every code that comes in
    /// (filings, tenants, records, region filters, the configuration) goes through here.
    ///
    /// # Errors
    /// [`DivisionError::Format`], [`DivisionError::UnknownProvince`] or
    /// [`DivisionError::Unknown`] (six digits of a province that name no division).
    pub fn parse(s: &str) -> Result<Self, DivisionError> {
        let code = Self::parse_stored(s)?;
        if s == NATIONAL_CODE || TABLE.contains_key(&code.0) {
            Ok(code)
        } else {
            Err(DivisionError::Unknown(s.to_owned()))
        }
    }

    /// Parses a code read back from storage or from another platform: six digits of a known
    /// province, not looked up in the table. Such a code was checked when it came in; a later
    /// edition of the table may have retired it (an abolished county) and it must still be
    /// read, placed in its region and counted.
    ///
    /// # Errors
    /// [`DivisionError::Format`] or [`DivisionError::UnknownProvince`].
    pub fn parse_stored(s: &str) -> Result<Self, DivisionError> {
        let bytes = s.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(DivisionError::Format(s.to_owned()));
        }
        let mut code = [0u8; 6];
        code.copy_from_slice(bytes);
        if s != NATIONAL_CODE && !PROVINCES.contains(&&s[..2]) {
            return Err(DivisionError::UnknownProvince(s.to_owned()));
        }
        Ok(Self(code))
    }

    /// The division's own name from the table (`370112` → 历城区); `None` for the national
    /// code and for a code a later edition of the table retired.
    #[must_use]
    pub fn name(&self) -> Option<&'static str> {
        TABLE.get(&self.0).copied()
    }

    /// The full name, province first (`370112` → 山东省济南市历城区, `110105` → 北京市朝阳区,
    /// `419001` → 河南省济源市); `None` when the table does not hold the code.
    #[must_use]
    pub fn full_name(&self) -> Option<String> {
        let own = self.name()?;
        let mut out = String::new();
        for up in [self.province(), self.city()].into_iter().flatten() {
            if up != *self
                && let Some(n) = up.name()
            {
                out.push_str(n);
            }
        }
        out.push_str(own);
        Some(out)
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000")
    }

    /// The level this code names.
    #[must_use]
    pub fn level(&self) -> TenantLevel {
        let s = self.as_str();
        if s == NATIONAL_CODE {
            TenantLevel::National
        } else if &s[2..] == "0000" {
            TenantLevel::Provincial
        } else if &s[4..] == "00" {
            TenantLevel::Municipal
        } else {
            TenantLevel::County
        }
    }

    /// The province this code lies in (itself for a province; `None` for the national code).
    #[must_use]
    pub fn province(&self) -> Option<Self> {
        if self.level() == TenantLevel::National {
            return None;
        }
        let mut p = self.0;
        p[2..].copy_from_slice(b"0000");
        Some(Self(p))
    }

    /// The city this code lies in (itself for a city; `None` above city level).
    #[must_use]
    pub fn city(&self) -> Option<Self> {
        match self.level() {
            TenantLevel::National | TenantLevel::Provincial => None,
            _ => {
                let mut c = self.0;
                c[4..].copy_from_slice(b"00");
                Some(Self(c))
            }
        }
    }

    /// Whether this code lies in `region` (a region lies in itself).
    #[must_use]
    pub fn is_within(&self, region: &Self) -> bool {
        match region.level() {
            TenantLevel::National => true,
            TenantLevel::Provincial => self.province() == Some(*region),
            TenantLevel::Municipal => self.city() == Some(*region),
            TenantLevel::County => self == region,
        }
    }

    /// The sub-region of `self` one level down that `code` lies in, as the map of `self`
    /// draws it: a province of the country, a city of a province (a district of the four
    /// municipalities directly under the central government, whose maps show districts), a
    /// county of a city. `None` when `code` is `self` or outside it.
    #[must_use]
    pub fn sub_region_of(&self, code: &Self) -> Option<Self> {
        if code == self || !code.is_within(self) {
            return None;
        }
        match self.level() {
            TenantLevel::National => code.province(),
            TenantLevel::Provincial if MUNICIPALITIES.contains(&&self.as_str()[..2]) => Some(*code),
            TenantLevel::Provincial => code.city(),
            TenantLevel::Municipal | TenantLevel::County => Some(*code),
        }
    }

    /// Whether `child` may be a direct child tenant of `self`: national → provinces; a
    /// province → its cities (and, for the municipalities directly under the central
    /// government, its counties); a city → its counties.
    ///
    /// # Errors
    /// [`DivisionError::Nesting`] when it may not.
    pub fn check_child(&self, child: &Self) -> Result<(), DivisionError> {
        let ok = match (self.level(), child.level()) {
            (TenantLevel::National, TenantLevel::Provincial) => true,
            (TenantLevel::Provincial, TenantLevel::Municipal | TenantLevel::County) => child.province() == Some(*self),
            (TenantLevel::Municipal, TenantLevel::County) => child.city() == Some(*self),
            _ => false,
        };
        if ok { Ok(()) } else { Err(DivisionError::Nesting { parent: self.to_string(), child: child.to_string() }) }
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DivisionCode {
    type Err = DivisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The path of a child tenant from its parent's path: `100000/370000/` + `370100` →
/// `100000/370000/370100/`.
#[must_use]
pub fn child_path(parent_path: &str, child: &DivisionCode) -> String {
    format!("{parent_path}{child}/")
}

/// The municipalities directly under the central government (北京, 天津, 上海, 重庆): their
/// maps show districts, not cities.
pub const MUNICIPALITIES: &[&str] = &["11", "12", "31", "50"];

#[cfg(test)]
mod tests {
    use super::*;

    fn dc(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn regions_nest() {
        assert!(dc("370102").is_within(&dc("100000")));
        assert!(dc("370102").is_within(&dc("370000")));
        assert!(dc("370102").is_within(&dc("370100")));
        assert!(!dc("370102").is_within(&dc("370200")));
        assert!(!dc("440100").is_within(&dc("370000")));
        assert!(dc("370000").is_within(&dc("370000")));
        assert!(!dc("370000").is_within(&dc("370100")));
    }

    #[test]
    fn sub_regions_follow_the_maps() {
        assert_eq!(dc("100000").sub_region_of(&dc("370102")), Some(dc("370000")));
        assert_eq!(dc("370000").sub_region_of(&dc("370102")), Some(dc("370100")));
        assert_eq!(dc("370000").sub_region_of(&dc("370100")), Some(dc("370100")));
        assert_eq!(dc("110000").sub_region_of(&dc("110105")), Some(dc("110105")));
        assert_eq!(dc("370100").sub_region_of(&dc("370102")), Some(dc("370102")));
        assert_eq!(dc("370000").sub_region_of(&dc("370000")), None);
        assert_eq!(dc("370000").sub_region_of(&dc("440100")), None);
    }

    fn code(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap()
    }

    #[test]
    fn levels_follow_the_trailing_zeros() {
        assert_eq!(code("100000").level(), TenantLevel::National);
        assert_eq!(code("370000").level(), TenantLevel::Provincial);
        assert_eq!(code("370100").level(), TenantLevel::Municipal);
        assert_eq!(code("370102").level(), TenantLevel::County);
    }

    #[test]
    fn bad_codes_are_refused() {
        assert!(matches!(DivisionCode::parse("37010"), Err(DivisionError::Format(_))));
        assert!(matches!(DivisionCode::parse("37010a"), Err(DivisionError::Format(_))));
        assert!(matches!(DivisionCode::parse("３７００００"), Err(DivisionError::Format(_))));
        assert!(matches!(DivisionCode::parse("990000"), Err(DivisionError::UnknownProvince(_))));
        assert!(matches!(DivisionCode::parse("000000"), Err(DivisionError::UnknownProvince(_))));
    }

    #[test]
    fn codes_are_checked_against_the_table_and_named_from_it() {
        assert!(table_len() > 3000, "the whole county-and-above table, not a sample: {}", table_len());
        assert_eq!(code("370112").name(), Some("历城区"));
        assert_eq!(code("370112").full_name().as_deref(), Some("山东省济南市历城区"));
        assert_eq!(code("370100").full_name().as_deref(), Some("山东省济南市"));
        assert_eq!(code("370000").full_name().as_deref(), Some("山东省"));
        assert_eq!(code("110105").full_name().as_deref(), Some("北京市朝阳区"));
        assert_eq!(code("419001").full_name().as_deref(), Some("河南省济源市"));
        assert_eq!(name_of("320100"), Some("南京市"));
        assert_eq!(code("100000").name(), None);
        // Six digits of a real province that name nothing.
        for bad in ["379999", "370199", "379900", "110100", "419000"] {
            let e = DivisionCode::parse(bad).expect_err(bad);
            assert!(matches!(e, DivisionError::Unknown(_)), "{bad}: {e:?}");
            assert_eq!(e.rule(), "unknown");
        }
        // Read back from storage, a retired or unknown code is still placed in its region.
        assert!(DivisionCode::parse_stored("379999").is_ok_and(|c| c.is_within(&code("370000"))));
        assert!(table_source().contains("国家地名信息库"), "{}", table_source());
    }

    #[test]
    fn the_table_nests() {
        for (c, _) in TABLE.iter() {
            let c = DivisionCode(*c);
            let p = c.province().unwrap_or_else(|| panic!("{c} has no province"));
            assert!(p.name().is_some(), "{c}: province {p} not in the table");
            assert!(PROVINCES.contains(&&c.as_str()[..2]), "{c}: unknown province prefix");
        }
    }

    #[test]
    fn nesting_follows_the_code() {
        code("100000").check_child(&code("370000")).unwrap();
        code("370000").check_child(&code("370100")).unwrap();
        code("370100").check_child(&code("370102")).unwrap();
        // Beijing's districts sit directly under the municipality.
        code("110000").check_child(&code("110101")).unwrap();
        assert!(code("370000").check_child(&code("320100")).is_err(), "another province's city");
        assert!(code("100000").check_child(&code("370100")).is_err(), "a city straight under national");
        assert!(code("370100").check_child(&code("370200")).is_err(), "a sibling city");
        assert!(code("370200").check_child(&code("370102")).is_err(), "another city's county");
        assert!(code("370100").check_child(&code("370000")).is_err(), "upside down");
    }

    #[test]
    fn paths_extend_the_parent() {
        assert_eq!(child_path("100000/", &code("370000")), "100000/370000/");
    }
}
