//! One paging contract for every list of the API: `?page=1&page_size=20` (at most 200 rows a
//! page) and the answer `{ "items": [...], "page": 1, "page_size": 20, "total": 123 }`, as the
//! filing and trace-record searches page.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::modules::subjects::workflow;

/// The rows a page holds at most.
pub const MAX_PAGE_SIZE: u64 = 200;
/// The rows a page holds when the request does not say.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The paging parameters of a list without filters.
#[derive(Debug, Default, Clone, Copy, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
}

impl Paging {
    /// Checks `page` and `page_size` (422 naming the field).
    ///
    /// # Errors
    /// 422 when either is out of range.
    pub fn check(page: Option<u64>, page_size: Option<u64>) -> ApiResult<Self> {
        let mut errors = Vec::new();
        let (page, page_size) = workflow::paging(page, page_size, &mut errors);
        if errors.is_empty() { Ok(Self { page, page_size }) } else { Err(ApiError::validation(errors)) }
    }

    /// The rows to skip.
    #[must_use]
    pub fn offset(self) -> u64 {
        self.page.saturating_sub(1).saturating_mul(self.page_size)
    }

    /// This page of a list held whole (short lists: roles, grants, policy rows), with its total.
    #[must_use]
    pub fn slice<T>(self, all: Vec<T>) -> (Vec<T>, u64) {
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        let skip = usize::try_from(self.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        (all.into_iter().skip(skip).take(take).collect(), total)
    }
}

impl PageQuery {
    /// Checks the parameters.
    ///
    /// # Errors
    /// 422 when either is out of range.
    pub fn check(&self) -> ApiResult<Paging> {
        Paging::check(self.page, self.page_size)
    }
}

/// Declares `$name`, a page of `$item`s with the common envelope, and its constructor.
#[macro_export]
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// This page's rows.
            pub items: Vec<$item>,
            /// Page, from 1.
            pub page: u64,
            /// Rows per page.
            pub page_size: u64,
            /// Rows in all pages.
            pub total: u64,
        }

        impl $name {
            /// A page of `items` out of `total`.
            #[must_use]
            pub fn new(items: Vec<$item>, paging: $crate::paging::Paging, total: u64) -> Self {
                Self { items, page: paging.page, page_size: paging.page_size, total }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_pages_and_counts_all() {
        let p = Paging::check(Some(2), Some(3)).unwrap();
        assert_eq!(p.slice((1..=8).collect()), (vec![4, 5, 6], 8));
        let last = Paging::check(Some(3), Some(3)).unwrap();
        assert_eq!(last.slice((1..=8).collect()), (vec![7, 8], 8));
        let past = Paging::check(Some(9), Some(3)).unwrap();
        assert_eq!(past.slice((1..=8).collect::<Vec<i32>>()), (vec![], 8));
    }

    #[test]
    fn refuses_out_of_range() {
        let e = Paging::check(Some(0), Some(201)).unwrap_err();
        let fields: Vec<&str> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["page", "page_size"]);
        assert_eq!(Paging::check(None, None).unwrap(), Paging { page: 1, page_size: DEFAULT_PAGE_SIZE });
    }
}
