"""Keystone v3 subset of arkserve's OpenAPI document (internal/httpapi/keystone.go)."""

KS_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"


def add(paths, schemas, responses, parameters, headers, helpers):
    g = helpers
    s, b, arr, obj, ref, ext, errs, qp, pref = (g["s"], g["b"], g["arr"], g["obj"], g["ref"], g["ext"], g["errs"],
                                                g["qp"], g["pref"])

    def rid():
        return {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}

    def ok(status_desc, schema_name, extra_headers=None):
        h = rid()
        if extra_headers:
            h.update(extra_headers)
        return {"description": status_desc, "headers": h,
                "content": {"application/json": {"schema": ref(schema_name)}}}

    # --- schemas ---------------------------------------------------------------------------------------
    schemas["KeystoneLink"] = obj({"rel": s("Relation; self."), "href": s("URL.")}, ["rel", "href"], "A link.")
    schemas["KeystoneMediaType"] = obj({"base": s("Base media type."), "type": s("Media type.")},
                                       ["base", "type"], "A media type of the API.")
    schemas["KeystoneVersion"] = obj({
        "id": s("API version.", example="v3.14"),
        "status": s("Version status.", example="stable"),
        "updated": s("Release date of the version."),
        "links": arr(ref("KeystoneLink"), "Links; self is {base}/v3/."),
        "media-types": arr(ref("KeystoneMediaType"), "Media types."),
    }, ["id", "status", "updated", "links", "media-types"], "Identity API version.")
    schemas["KeystoneVersions"] = obj({
        "versions": obj({"values": arr(ref("KeystoneVersion"), "Versions; only v3.")}, ["values"], "Versions."),
    }, ["versions"], "Version discovery (GET /).")
    schemas["KeystoneVersionResponse"] = obj({"version": ref("KeystoneVersion")}, ["version"],
                                             "The v3 version document.")

    schemas["KeystoneRef"] = obj({"id": s("ID."), "name": s("Name.")}, ["id", "name"], "ID and name.")
    schemas["KeystoneRefRequest"] = obj({"id": s("ID."), "name": s("Name.")},
                                        desc="An ID or a name (one is enough).", closed=False)
    schemas["AuthRequest"] = obj({
        "auth": obj({
            "identity": obj({
                "methods": arr(s(enum=["password", "token"]), "Exactly one method.", minItems=1, maxItems=1),
                "password": obj({
                    "user": obj({
                        "id": s("User ID."),
                        "name": s("User name (with domain)."),
                        "password": s("Password."),
                        "domain": ref("KeystoneRefRequest"),
                    }, ["password"], "The user: id, or name and domain.", closed=False),
                }, ["user"], "Password credentials.", closed=False),
                "token": obj({"id": s("Token to re-scope; defaults to X-Auth-Token.")},
                             desc="Token credentials.", closed=False),
            }, ["methods"], "Credentials.", closed=False),
            "scope": {
                "description": "Scope: a project (id, or name and domain), \"unscoped\", or absent/null/{} for an "
                               "unscoped token. Domain, system and trust scopes are refused.",
                "oneOf": [
                    obj({"project": obj({"id": s("Project ID."), "name": s("Project name."),
                                         "domain": ref("KeystoneRefRequest")},
                                        desc="The project.", closed=False)},
                        desc="Project scope.", closed=False, nullable=True),
                    s(enum=["unscoped"]),
                ],
            },
        }, ["identity"], "Authentication.", closed=False),
    }, ["auth"], "POST /v3/auth/tokens body.", closed=False)

    schemas["KeystoneUser"] = obj({
        "id": s("User ID."),
        "name": s("User name."),
        "domain": ref("KeystoneRef"),
        "password_expires_at": s("Password expiry; always null.", nullable=True),
    }, ["id", "name", "domain", "password_expires_at"], "Token user.")
    schemas["KeystoneTokenProject"] = obj({
        "id": s("Project ID."), "name": s("Project name."), "domain": ref("KeystoneRef"),
    }, ["id", "name", "domain"], "Token project.")
    schemas["KeystoneEndpoint"] = obj({
        "id": s("Endpoint ID."),
        "interface": s("Interface.", enum=["public", "internal", "admin"]),
        "region": s("Region.", example="RegionOne"),
        "region_id": s("Region ID.", example="RegionOne"),
        "url": s("Endpoint URL: {base}/v1/{project_id} for ModelArts, {base}/v3 for identity."),
    }, ["id", "interface", "region", "region_id", "url"], "Catalog endpoint.")
    schemas["KeystoneCatalogEntry"] = obj({
        "id": s("Service ID."),
        "type": s("Service type: modelarts, modelartsv1 or identity."),
        "name": s("Service name."),
        "endpoints": arr(ref("KeystoneEndpoint"), "Endpoints."),
    }, ["id", "type", "name", "endpoints"], "Catalog service.")
    schemas["KeystoneToken"] = obj({
        "methods": arr(s(), "Authentication methods."),
        "user": ref("KeystoneUser"),
        "audit_ids": arr(s(), "Audit IDs (non-secret token IDs)."),
        "expires_at": s("Expiry (UTC).", pattern=KS_TIME, example="2025-01-02T03:04:05.000000Z"),
        "issued_at": s("Issue time (UTC).", pattern=KS_TIME),
        "project": ref("KeystoneTokenProject"),
        "is_domain": b("false; only for project-scoped tokens."),
        "roles": arr(ref("KeystoneRef"), "Roles on the project (ids equal names); only for project-scoped tokens, "
                                          "omitted when none."),
        "catalog": arr(ref("KeystoneCatalogEntry"), "Service catalog; project-scoped tokens without ?nocatalog."),
    }, ["methods", "user", "audit_ids", "expires_at", "issued_at"],
        "A token. project, is_domain, roles and catalog appear only for project-scoped tokens.")
    schemas["KeystoneTokenResponse"] = obj({"token": ref("KeystoneToken")}, ["token"], "Token body.")

    schemas["KeystoneProject"] = obj({
        "id": s("Project ID (32 hex characters)."),
        "name": s("Project name."),
        "domain_id": s("Domain ID."),
        "description": s("Description."),
        "enabled": b("Whether the project is enabled."),
        "is_domain": b("Always false."),
        "parent_id": s("Parent: the domain ID."),
        "tags": arr(s(), "Tags; always empty."),
        "links": obj({"self": s("Project URL.")}, ["self"], "Links."),
    }, ["id", "name", "domain_id", "description", "enabled", "is_domain", "parent_id", "tags", "links"],
        "A project.")
    schemas["KeystoneProjectList"] = obj({
        "projects": arr(ref("KeystoneProject"), "Projects, sorted by name."),
        "links": obj({"self": s("This URL."), "previous": s("Always null.", nullable=True),
                      "next": s("Always null.", nullable=True)},
                     ["self", "previous", "next"], "Links."),
    }, ["projects", "links"], "Project list.")

    # --- headers, responses ----------------------------------------------------------------------------
    headers["X-Subject-Token"] = {"description": "The token.", "required": True, "schema": s()}
    headers["WWW-Authenticate"] = {"description": "Keystone challenge: Keystone uri=\"{base}/v3\".", "required": True,
                                   "schema": s()}
    parameters["XAuthTokenKeystone"] = {"name": "X-Auth-Token", "in": "header", "required": True,
                                        "description": "The caller's token (any scope).", "schema": s()}
    parameters["XSubjectToken"] = {"name": "X-Subject-Token", "in": "header", "required": True,
                                   "description": "The token to validate or revoke.", "schema": s()}
    parameters["NoCatalog"] = {"name": "nocatalog", "in": "query", "required": False, "allowEmptyValue": True,
                               "description": "When present (any value), the token body has no catalog.",
                               "schema": s()}

    responses["KeystoneUnauthorized"] = {
        "description": "Missing, invalid or expired token (ModelArts.0201, 0202, 0203) or wrong credentials or "
                       "scope (ModelArts.0213).",
        "headers": {**rid(), "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
        "content": {"application/json": {"schema": ref("ErrorBody")}},
    }
    responses["TokenNotFound"] = {
        "description": "The X-Subject-Token is invalid, expired or revoked (as in Keystone); error_code gives the "
                       "reason (ModelArts.0201, 0202, 0203), error_msg starts with \"Could not find token\".",
        "headers": rid(),
        "content": {"application/json": {"schema": ref("ErrorBody")}},
    }
    ks_errs = {"401": {"$ref": "#/components/responses/KeystoneUnauthorized"}}

    def head_resp(desc, extra=None):
        h = rid()
        if extra:
            h.update(extra)
        return {"description": desc + " No body (HEAD).", "headers": h}

    # --- paths -----------------------------------------------------------------------------------------
    ident = ["Identity"]
    paths["/"] = {
        "get": {"operationId": "KeystoneVersions", "summary": "Identity version discovery", "tags": ident,
                "security": [],
                "responses": {"300": ok("Multiple choices: the identity versions (only v3).", "KeystoneVersions"),
                              **errs(413, 500)}},
    }
    v3 = {"operationId": "KeystoneV3", "summary": "Identity v3 version document", "tags": ident, "security": [],
          "responses": {"200": ok("The v3 version.", "KeystoneVersionResponse"), **errs(413, 500)}}
    paths["/v3"] = {"get": v3}
    paths["/v3/"] = {"get": dict(v3, operationId="KeystoneV3Slash")}

    token_ok_headers = {"X-Subject-Token": {"$ref": "#/components/headers/X-Subject-Token"}}
    paths["/v3/auth/tokens"] = {
        "post": {
            "operationId": "KeystoneIssueToken", "summary": "Issue a token (password) or re-scope one (token)",
            "tags": ident, "security": [],
            "description": "Tokens are valid for 24 hours. A re-scoped token does not outlive the original.",
            "parameters": [pref("NoCatalog"), pref("XRequestId"),
                           {"name": "X-Auth-Token", "in": "header", "required": False, "schema": s(),
                            "description": "Token to re-scope with method token when auth.identity.token.id is absent."}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("AuthRequest")}}},
            "responses": {"201": ok("Token issued; the token is in X-Subject-Token.", "KeystoneTokenResponse",
                                    token_ok_headers),
                          **errs(400), **ks_errs, **errs(413, 415, 500)},
        },
        "get": {
            "operationId": "KeystoneValidateToken", "summary": "Validate a token", "tags": ident,
            "security": [{"XAuthToken": []}],
            "parameters": [pref("XAuthTokenKeystone"), pref("XSubjectToken"), pref("NoCatalog"), pref("XRequestId")],
            "responses": {"200": ok("The subject token.", "KeystoneTokenResponse", token_ok_headers),
                          **errs(400), **ks_errs,
                          "404": {"$ref": "#/components/responses/TokenNotFound"}, **errs(413, 500)},
        },
        "head": {
            "operationId": "KeystoneCheckToken", "summary": "Check a token", "tags": ident,
            "security": [{"XAuthToken": []}],
            "parameters": [pref("XAuthTokenKeystone"), pref("XSubjectToken"), pref("XRequestId")],
            "responses": {"200": head_resp("The subject token is valid.", token_ok_headers),
                          "400": head_resp("X-Subject-Token is missing."),
                          "401": head_resp("The caller's token is not valid.",
                                           {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}}),
                          "404": head_resp("The subject token is invalid, expired or revoked."),
                          "413": head_resp("Body too large."),
                          "500": head_resp("Internal error.")},
        },
        "delete": {
            "operationId": "KeystoneRevokeToken", "summary": "Revoke a token", "tags": ident,
            "security": [{"XAuthToken": []}],
            "parameters": [pref("XAuthTokenKeystone"), pref("XSubjectToken"), pref("XRequestId")],
            "responses": {"204": {"description": "Revoked.", "headers": rid()},
                          **errs(400), **ks_errs,
                          "404": {"$ref": "#/components/responses/TokenNotFound"}, **errs(413, 500)},
        },
    }
    paths["/v3/auth/projects"] = {
        "get": {
            "operationId": "KeystoneAuthProjects", "summary": "Projects the caller holds a role on", "tags": ident,
            "security": [{"XAuthToken": []}],
            "parameters": [pref("XAuthTokenKeystone"), pref("XRequestId")],
            "responses": {"200": ok("Projects.", "KeystoneProjectList"), **ks_errs, **errs(413, 500)},
        },
    }
    paths["/v3/projects"] = {
        "get": {
            "operationId": "KeystoneListProjects", "summary": "List projects", "tags": ident,
            "security": [{"XAuthToken": []}],
            "description": "All projects for the cloud admin (admin in project default of domain default), "
                           "otherwise the enabled projects the caller holds a role on.",
            "parameters": [pref("XAuthTokenKeystone"), pref("XRequestId"),
                           qp("name", s(), "Exact project name."), qp("domain_id", s(), "Domain ID.")],
            "responses": {"200": ok("Projects.", "KeystoneProjectList"), **ks_errs, **errs(413, 500)},
        },
    }
