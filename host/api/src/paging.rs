//! Pages of a listing, in the original platform's (Spring's) shape: `content` with
//! `number`, `size`, `totalPages`, … beside it, asked for with `page` and `size`
//! (its SDK reads `content` and `totalPages`, and asks for `page=0, 1, …` until the
//! last). Runs can also be paged with a cursor (`next`), stable while new runs arrive.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::ApiError;

/// Page size when the client asks for none.
const DEFAULT_SIZE: u32 = 100;
/// Largest page.
const MAX_SIZE: u32 = 1000;
/// Largest page index (a million pages of a thousand: beyond any listing).
const MAX_PAGE: u32 = 1_000_000;

/// Which page of a listing, and in what order.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Page index, 0 to 1000000.
    #[param(minimum = 0, maximum = 1_000_000)]
    page: Option<u32>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    size: Option<u32>,
    /// `created,desc` (the default: newest first) or `created,asc`.
    #[param(pattern = "^created,(asc|desc)$")]
    sort: Option<String>,
}

impl Paging {
    /// The page index, the page size and whether the oldest come first; 400 for a size
    /// or an order this API does not offer.
    pub(crate) fn read(&self) -> Result<(u64, u32, bool), ApiError> {
        let page = match self.page {
            None => 0,
            Some(page @ 0..=MAX_PAGE) => page,
            Some(_) => return Err(ApiError::bad_request("page must be 0 to 1000000")),
        };
        let size = match self.size {
            None => DEFAULT_SIZE,
            Some(size @ 1..=MAX_SIZE) => size,
            Some(_) => return Err(ApiError::bad_request("size must be 1 to 1000")),
        };
        let oldest_first = match self.sort.as_deref() {
            None | Some("created,desc" | "created") => false,
            Some("created,asc") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "sort {other:?} is not offered: created,desc or created,asc"
                )));
            }
        };
        Ok((u64::from(page), size, oldest_first))
    }

    /// Page `page` of `all` (newest first), reversed first when the client asked for the
    /// oldest first.
    pub(crate) fn slice<T>(&self, mut all: Vec<T>) -> Result<Page<T>, ApiError> {
        let (page, size, oldest_first) = self.read()?;
        if oldest_first {
            all.reverse();
        }
        let total = all.len() as u64;
        let start = usize::try_from(page.saturating_mul(u64::from(size))).unwrap_or(usize::MAX);
        let content: Vec<T> = all.into_iter().skip(start).take(size as usize).collect();
        Ok(Page::new(content, page, size, Some(total), None))
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    /// This page's entities, in the listing's order.
    pub(crate) content: Vec<T>,
    /// Cursor of the next page (pass it as `cursor`; run listings), `null` on the last
    /// page.
    pub(crate) next: Option<String>,
    /// This page's index, from 0.
    pub(crate) number: u64,
    /// The page size asked for.
    pub(crate) size: u32,
    /// How many entities this page has.
    #[serde(rename = "numberOfElements")]
    pub(crate) number_of_elements: usize,
    /// How many pages the listing has; for runs, which are not counted, one more than
    /// this page's index while more follow.
    #[serde(rename = "totalPages")]
    pub(crate) total_pages: u64,
    /// How many entities the listing has (absent for runs, which are not counted: a
    /// count would cost every poll a scan).
    #[serde(rename = "totalElements", skip_serializing_if = "Option::is_none")]
    pub(crate) total_elements: Option<u64>,
    /// Whether this is the first page.
    pub(crate) first: bool,
    /// Whether this is the last page.
    pub(crate) last: bool,
    /// Whether this page is empty.
    pub(crate) empty: bool,
}

impl<T> Page<T> {
    /// Page `number` of `size`: `total` entities in all when counted, else `next` (the
    /// cursor of the page after, `None` on the last) tells whether more follow.
    pub(crate) fn new(
        content: Vec<T>,
        number: u64,
        size: u32,
        total: Option<u64>,
        next: Option<String>,
    ) -> Self {
        let total_pages = match total {
            Some(total) => total.div_ceil(u64::from(size)).max(1),
            None => number + 1 + u64::from(next.is_some()),
        };
        Page {
            number_of_elements: content.len(),
            empty: content.is_empty(),
            content,
            next,
            number,
            size,
            total_pages,
            total_elements: total,
            first: number == 0,
            last: number + 1 >= total_pages,
        }
    }

    /// A listing that has one page.
    pub(crate) fn all(content: Vec<T>) -> Self {
        let total = content.len() as u64;
        let size = u32::try_from(content.len()).unwrap_or(u32::MAX).max(1);
        Page::new(content, 0, size, Some(total), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(page: u64, size: u32, sort: Option<&str>) -> Paging {
        Paging {
            page: Some(u32::try_from(page).unwrap()),
            size: Some(size),
            sort: sort.map(str::to_string),
        }
    }

    #[test]
    fn a_listing_is_cut_into_counted_pages() {
        let page = paging(1, 2, None).slice(vec![5, 4, 3, 2, 1]).unwrap();
        assert_eq!(page.content, [3, 2]);
        assert_eq!((page.total_pages, page.total_elements), (3, Some(5)));
        assert!(!page.first && !page.last);
        let last = paging(2, 2, None).slice(vec![5, 4, 3, 2, 1]).unwrap();
        assert_eq!(last.content, [1]);
        assert!(last.last);
    }

    #[test]
    fn oldest_first_reverses_and_an_unknown_order_is_refused() {
        let page = paging(0, 10, Some("created,asc"))
            .slice(vec![3, 2, 1])
            .unwrap();
        assert_eq!(page.content, [1, 2, 3]);
        assert!(paging(0, 10, Some("name,asc")).slice(vec![1]).is_err());
        assert!(paging(0, 0, None).slice(vec![1]).is_err());
    }

    #[test]
    fn an_uncounted_listing_has_one_more_page_while_a_cursor_follows() {
        let page = Page::new(vec![1, 2], 0, 2, None, Some("next".into()));
        assert_eq!((page.total_pages, page.last), (2, false));
        let end = Page::new(vec![3], 1, 2, None, None);
        assert_eq!((end.total_pages, end.last), (2, true));
    }
}
