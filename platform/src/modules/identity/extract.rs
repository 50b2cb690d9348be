//! Extractors that authenticate a request. A handler that takes one cannot run for an
//! anonymous caller.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::SESSION_COOKIE;
use super::service::{self, Authenticated, SessionAuth};
use crate::error::ApiError;
use crate::limits::{Class, Key};
use crate::state::AppState;

/// A signed-in user, including one who still has to change an initial password. Only the
/// routes that let that user act (`me`, `password`, `logout`) take this.
#[derive(Debug, Clone)]
pub struct SessionUser(pub SessionAuth);

/// A caller allowed to use the platform: a signed-in user whose password change is done, or a
/// connected system with an API key (`Authorization: Bearer sy_…`).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Authenticated);

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

async fn authenticate(req: HttpRequest) -> Result<SessionAuth, ApiError> {
    let state = app_state(&req)?;
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::unauthorized("请先登录"));
    };
    let auth = service::authenticate(&state.db, &state.sessions, &state.settings, &token).await?;
    state.limits.check(Class::Api, &Key::Id(auth.user.id)).await?;
    Ok(auth)
}

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(SessionUser) })
    }
}

/// Whoever may ask who they are (`GET /api/v1/auth/me`): a signed-in user, including one who
/// still has to change an initial password, or a connected system with an API key.
#[derive(Debug, Clone)]
pub enum AnyCaller {
    /// A session.
    Session(Box<SessionAuth>),
    /// An API key.
    Key(Box<Authenticated>),
}

async fn authenticate_key(req: &HttpRequest, secret: &str) -> Result<Authenticated, ApiError> {
    let state = app_state(req)?;
    let key = service::authenticate_key(&state.db, secret).await?;
    if let Some(id) = key.key_id {
        state.limits.check(Class::Api, &Key::Id(id)).await?;
    }
    Ok(key)
}

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(secret) = bearer(&req) {
                return authenticate_key(&req, &secret).await.map(|k| AnyCaller::Key(Box::new(k)));
            }
            authenticate(req).await.map(|s| AnyCaller::Session(Box::new(s)))
        })
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(secret) = bearer(&req) {
                return authenticate_key(&req, &secret).await.map(CurrentUser);
            }
            let auth = authenticate(req).await?;
            if auth.user.must_change_password {
                return Err(ApiError::forbidden_code("password_change_required", "请先修改初始密码"));
            }
            Ok(CurrentUser(auth.into()))
        })
    }
}
