/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoints of a registry (registry.h): its mirrors from imaged.registries[].mirrors that
 * can do what the job does, then the registry itself, each with its TLS settings and the
 * credentials for its own host: the call's, else the configuration's for the registry; a
 * mirror gets only what is configured for the mirror's host. Built once per job; the
 * authentication state in each endpoint is filled by registry.c under the registry's lock.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "imaged/registry.h"
#include "imaged/registry_int.h"

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

static void
endpoint_set_tls(struct imaged_endpoint *ep, const struct br_registry_tls *tls)
{
	ep->insecure = tls->insecure;
	ep->skip_verify = tls->skip_verify;
	ep->ca_file = dup_or_null(tls->ca_file);
	ep->client_cert = dup_or_null(tls->client_cert);
	ep->client_key = dup_or_null(tls->client_key);
}

/* The credentials for `domain` (as the user writes it: "docker.io"): the call's, else the
 * configuration's. */
static void
endpoint_set_auth(struct imaged_endpoint *ep, const struct br_config *cfg, const char *domain,
                  const struct br_registry_auth *auth)
{
	const struct br_registry_config *rc = cfg ? br_config_registry(cfg, domain) : NULL;

	if (br_registry_auth_given(auth)) {
		ep->username = dup_or_null(auth->username);
		ep->password = dup_or_null(auth->password);
		ep->identity_token = dup_or_null(auth->identity_token);
	} else if (rc != NULL && rc->username != NULL) {
		ep->username = xstrdup(rc->username);
		ep->password = xstrdup(rc->password);
	}
}

/* "127.0.0.1:5000" of "https://127.0.0.1:5000/prefix". */
static char *
url_host(const char *url)
{
	const char *h = strstr(url, "://");

	h = h != NULL ? h + 3 : url;
	return xstrndup(h, strcspn(h, "/"));
}

struct imaged_registry *
imaged_registry_make(const struct br_config *cfg, const char *domain, const char *repo,
                     const struct br_registry_auth *auth, unsigned capabilities, bool mirrors)
{
	const struct br_registry_config *rc = cfg ? br_config_registry(cfg, domain) : NULL;
	struct imaged_registry *reg = xnew(struct imaged_registry);
	static const struct br_registry_tls no_tls;

	reg->host = xstrdup(strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain);
	reg->repo = xstrdup(repo);
	reg->push = (capabilities & BR_REGISTRY_PUSH) != 0;
	reg->retry_attempts = cfg ? cfg->imaged.retry_attempts : 5;
	reg->retry_max_delay_ms = cfg ? cfg->imaged.retry_max_delay_ms : 30 * 1000;
	reg->stall_ms = cfg ? cfg->imaged.job_stall_timeout_ms : 5 * 60 * 1000;
	pthread_mutex_init(&reg->lock, NULL);
	for (size_t i = 0; mirrors && rc != NULL && i < rc->n_mirrors; i++) {
		const struct br_registry_mirror *m = &rc->mirrors[i];
		if ((m->capabilities & capabilities) == 0 || reg->n_eps + 1 >= IMAGED_MAX_ENDPOINTS)
			continue;
		struct imaged_endpoint *ep = &reg->eps[reg->n_eps++];
		ep->url = xasprintf("%s/v2%s%s", m->url, repo[0] ? "/" : "", repo);
		ep->query = xasprintf("?ns=%s", domain);
		ep->capabilities = m->capabilities;
		ep->mirror = true;
		endpoint_set_tls(ep, &m->tls);
		/* A mirror gets the credentials configured for its own host, never the
		 * registry's. */
		_cleanup_free_ char *mhost = url_host(m->url);
		endpoint_set_auth(ep, cfg, mhost, NULL);
	}
	struct imaged_endpoint *ep = &reg->eps[reg->n_eps++];
	endpoint_set_tls(ep, rc != NULL ? &rc->tls : &no_tls);
	ep->url = xasprintf("%s://%s/v2%s%s", ep->insecure ? "http" : "https", reg->host,
	                    repo[0] ? "/" : "", repo);
	ep->query = xstrdup("");
	ep->capabilities = BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE | BR_REGISTRY_PUSH;
	endpoint_set_auth(ep, cfg, domain, auth);
	reg->url = xstrdup(ep->url);
	return reg;
}

struct imaged_registry *
imaged_registry_open(const struct br_config *cfg, const struct br_ref *ref,
                     const struct br_registry_auth *auth, unsigned capabilities)
{
	return imaged_registry_make(cfg, ref->domain, ref->path, auth, capabilities, true);
}

struct imaged_registry *
imaged_registry_new(const struct br_config *cfg, const struct br_ref *ref)
{
	return imaged_registry_open(cfg, ref, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE);
}

void
imaged_registry_free(struct imaged_registry *reg)
{
	if (reg == NULL)
		return;
	for (size_t i = 0; i < reg->n_eps; i++) {
		struct imaged_endpoint *ep = &reg->eps[i];
		free(ep->url);
		free(ep->query);
		free(ep->ca_file);
		free(ep->client_cert);
		free(ep->client_key);
		free(ep->username);
		imaged_free_secret(ep->password);
		imaged_free_secret(ep->identity_token);
		imaged_free_secret(ep->token);
	}
	free(reg->host);
	free(reg->repo);
	free(reg->url);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

void
imaged_creds_set(struct imaged_creds *c, const struct br_registry_auth *auth)
{
	*c = (struct imaged_creds){0};
	if (auth == NULL || !br_registry_auth_given(auth))
		return;
	c->username = auth->username ? xstrdup(auth->username) : NULL;
	c->password = auth->password ? xstrdup(auth->password) : NULL;
	c->identity_token = auth->identity_token ? xstrdup(auth->identity_token) : NULL;
}

struct br_registry_auth
imaged_creds_auth(const struct imaged_creds *c)
{
	return (struct br_registry_auth){c->username, c->password, c->identity_token};
}

void
imaged_creds_fini(struct imaged_creds *c)
{
	free(c->username);
	imaged_free_secret(c->password);
	imaged_free_secret(c->identity_token);
	*c = (struct imaged_creds){0};
}

size_t
imaged_registry_endpoints(const struct imaged_registry *reg, unsigned capability,
                          const struct imaged_endpoint **ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < reg->n_eps; i++) {
		if ((reg->eps[i].capabilities & capability) == 0)
			continue;
		if (n < max)
			ret[n] = &reg->eps[i];
		n++;
	}
	return n;
}

const char *
imaged_endpoint_url(const struct imaged_endpoint *ep)
{
	return ep->url;
}

bool
imaged_endpoint_is_mirror(const struct imaged_endpoint *ep)
{
	return ep->mirror;
}

const char *
imaged_registry_url(const struct imaged_registry *reg)
{
	return reg->url;
}
