//! `GET /api/v1/openapi.json`: the API described from the handlers' own annotations
//! (`#[utoipa::path]` beside each handler), so the document cannot drift from the routes.
//! Every route module adds its handlers to the list below.

use axum::Json;
use utoipa::OpenApi;

use crate::auth::Caller;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cairn",
        description = "The JSON API of the cairn daemon: the same calls over the unix socket (as the local user) and over TCP (with a session or `Authorization: Bearer TOKEN`).",
    ),
    paths(
        super::health::health,
        super::jobs::list,
        super::jobs::show,
        super::jobs::log,
        super::jobs::events,
        super::jobs::cancel,
        super::jobs::retry,
        super::drills::list,
        super::server_backup::run,
        super::notifications::list,
        super::notifications::test,
        super::accounts::me,
        super::accounts::users,
        super::accounts::add_user,
        super::accounts::change_user,
        super::accounts::remove_user,
        super::accounts::reset_second_factor,
        super::accounts::tokens,
        super::accounts::create_token,
        super::accounts::revoke_token,
        super::accounts::audit,
        super::settings::get,
        super::plans::list,
        super::plans::run,
        super::repositories::list,
        super::repositories::snapshots,
        super::browse::tree,
        super::browse::history,
        super::browse::search,
        super::download::download,
        super::download::archive,
        super::restore::restore,
        super::plan_edit::show,
        super::plan_edit::update,
        super::plan_edit::validate,
        super::plan_edit::create,
        super::plan_edit::delete,
        super::offsite::show,
        super::offsite::update,
        super::offsite::test,
        super::offsite::sync,
        super::offsite::orphans,
        super::offsite_jobs::verify,
        super::offsite_jobs::restore,
        super::offsite_jobs::restore_orphan,
        openapi,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub async fn openapi(_caller: Caller) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
