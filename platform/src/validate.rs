//! Field rules shared by every form of the platform (contacts, coordinates), so a phone
//! number or a seat location is judged the same in a tenant profile, an application and a
//! filing. Each pushes a named [`FieldError`] and never stops at the first problem.

use crate::error::FieldError;

/// A plausible e-mail address (the mail server decides the rest).
#[must_use]
pub fn is_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.starts_with('.'))
}

/// A non-empty phone number holds digits, spaces and `+ - ( )` only.
pub fn phone(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if !value.is_empty() && !value.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
        errors.push(FieldError::new(field, "format", "电话号码只能包含数字、空格和 + - ( )"));
    }
}

/// A non-empty e-mail address must look like one.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if !value.is_empty() && !is_email(value) {
        errors.push(FieldError::new(field, "format", "电子邮箱格式不正确"));
    }
}

/// Longitude and latitude: both or neither, inside China.
pub fn coordinates(longitude: Option<f64>, latitude: Option<f64>, errors: &mut Vec<FieldError>) {
    match (longitude, latitude) {
        (Some(lon), Some(lat)) => {
            if !(73.0..=136.0).contains(&lon) {
                errors.push(FieldError::new("longitude", "range", "经度应在 73–136 之间（中国境内）"));
            }
            if !(3.0..=54.0).contains(&lat) {
                errors.push(FieldError::new("latitude", "range", "纬度应在 3–54 之间（中国境内）"));
            }
        }
        (None, None) => {}
        (None, Some(_)) => errors.push(FieldError::new("longitude", "required", "经度和纬度需同时填写")),
        (Some(_), None) => errors.push(FieldError::new("latitude", "required", "经度和纬度需同时填写")),
    }
}
