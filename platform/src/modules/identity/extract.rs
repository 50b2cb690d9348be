//! Extractors that authenticate a request. A handler that takes one cannot run for an
//! anonymous caller.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::SESSION_COOKIE;
use super::service::{self, Authenticated};
use crate::error::ApiError;
use crate::state::AppState;

/// A signed-in user, including one who still has to change an initial password. Only the
/// routes that let that user act (`me`, `password`, `logout`) take this.
#[derive(Debug, Clone)]
pub struct SessionUser(pub Authenticated);

/// A signed-in user allowed to use the platform (the password change is done).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Authenticated);

async fn authenticate(req: HttpRequest) -> Result<Authenticated, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::unauthorized("请先登录"));
    };
    service::authenticate(&state.db, &state.settings, &token).await
}

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(SessionUser) })
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticate(req).await?;
            if auth.user.must_change_password {
                return Err(ApiError::forbidden_code("password_change_required", "请先修改初始密码"));
            }
            Ok(CurrentUser(auth))
        })
    }
}
