/*
 * test_config.c - unit tests of nph_config: defaults, YAML (nested and dotted keys), every
 * error path naming file, line and key, cfg unchanged after any failed load, environment and
 * set precedence, derived values in nph_config_finish, listen validation, and the sample
 * config parsing back to the defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nph_config.h"

static int setup(void **state)
{
    struct nph_config *cfg = calloc(1, sizeof(*cfg));
    struct nph_error err = NPH_ERROR_INIT;
    if (!cfg || nph_config_init(cfg, &err) < 0)
        return -1;
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    nph_config_fini(*state);
    free(*state);
    return 0;
}

static int load(struct nph_config *cfg, const char *yaml, struct nph_error *err)
{
    return nph_config_load_yaml(cfg, "config.yaml", yaml, strlen(yaml), err);
}

/* Compare every field of two configs. */
static void assert_config_equal(const struct nph_config *a, const struct nph_config *b)
{
    for (const struct nph_config_key *k = nph_config_keys(); k->key; k++) {
        const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
        if (k->type == NPH_CFG_STR)
            assert_string_equal(*(char *const *)(const void *)pa, *(char *const *)(const void *)pb);
        else if (k->type == NPH_CFG_INT)
            assert_true(*(const int64_t *)(const void *)pa == *(const int64_t *)(const void *)pb);
    }
}

static void test_defaults(void **state)
{
    struct nph_config *cfg = *state;
    assert_string_equal(cfg->listen, "127.0.0.1:8787");
    assert_string_equal(cfg->public_url, "");
    assert_string_equal(cfg->data_dir, "./data");
    assert_string_equal(cfg->log_level, "info");
    assert_string_equal(cfg->log_format, "text");
    assert_string_equal(cfg->store_url, "");
    assert_int_equal(cfg->store_pool_size, 8);
    assert_int_equal(cfg->http_threads, 0);
    assert_int_equal(cfg->http_max_body_bytes, 1048576);
    assert_int_equal(cfg->http_max_header_bytes, 16384);
    assert_int_equal(cfg->http_max_json_depth, 32);
    assert_int_equal(cfg->http_connection_timeout, 30);
    assert_string_equal(cfg->identity_region, "RegionOne");
    assert_int_equal(cfg->identity_token_lifetime, 3600);
    assert_string_equal(cfg->identity_token_keys_dir, "");
    assert_int_equal(cfg->identity_max_active_keys, 3);
    assert_int_equal(cfg->identity_password_hash_iterations, 100000);
    assert_int_equal(cfg->identity_lockout_failure_attempts, 0);
    assert_int_equal(cfg->identity_lockout_duration, 1800);
    assert_int_equal(cfg->identity_unique_last_password_count, 0);
    assert_string_equal(cfg->compute_libvirt_uri, "test:///default");

    /* every field of the struct has exactly one row, and rows are unique */
    size_t n = 0;
    for (const struct nph_config_key *k = nph_config_keys(); k->key; k++, n++) {
        assert_non_null(k->doc);
        assert_non_null(k->def);
        for (const struct nph_config_key *j = k + 1; j->key; j++)
            assert_string_not_equal(k->key, j->key);
    }
    assert_int_equal(n, 35);
    assert_int_equal(cfg->metering_sample_interval, 60);
    assert_int_equal(cfg->metering_raw_retention, 86400);
    assert_int_equal(cfg->metering_retention, 7776000);
    assert_int_equal(json_object_size(cfg->sections), 0);
}

static void test_yaml_ok(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    const char *yaml = "# comment\n"
                       "listen: \"[::1]:9000\"\n"
                       "data_dir: /var/lib/nephele\n"
                       "log:\n"
                       "  level: debug\n"
                       "  format: json\n"
                       "http:\n"
                       "  max_body_bytes: 2048\n"
                       "  threads: 4\n"
                       "identity.region: RegionTwo\n" /* dotted keys work too */
                       "store: {url: 'postgresql://u:p@db:5432/nephele', pool_size: 16}\n"
                       "compute:\n";
    assert_int_equal(load(cfg, yaml, &err), 0);
    assert_string_equal(cfg->listen, "[::1]:9000");
    assert_string_equal(cfg->data_dir, "/var/lib/nephele");
    assert_string_equal(cfg->log_level, "debug");
    assert_string_equal(cfg->log_format, "json");
    assert_int_equal(cfg->http_max_body_bytes, 2048);
    assert_int_equal(cfg->http_threads, 4);
    assert_string_equal(cfg->identity_region, "RegionTwo");
    assert_string_equal(cfg->store_url, "postgresql://u:p@db:5432/nephele");
    assert_int_equal(cfg->store_pool_size, 16);
    assert_int_equal(cfg->http_max_header_bytes, 16384); /* untouched */

    /* a null value restores the default; empty documents change nothing */
    assert_int_equal(load(cfg, "log:\n  level:\nhttp:\n  threads: ~\n", &err), 0);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->http_threads, 0);
    assert_int_equal(load(cfg, "", &err), 0);
    assert_int_equal(load(cfg, "# nothing\n---\n", &err), 0);
    assert_string_equal(cfg->listen, "[::1]:9000");
}

struct bad_case {
    const char *yaml;
    const char *msg; /* exact expected message */
};

static void test_yaml_errors(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_config before;
    struct nph_error err = NPH_ERROR_INIT;
    static const struct bad_case cases[] = {
        {"http:\n  threads: 2\n  max_body_bytes: lots\n",
         "config.yaml:3: 'http.max_body_bytes': expected an integer, got 'lots'"},
        {"htp:\n  threads: 2\n", "config.yaml:1: unknown key 'htp'"},
        {"http:\n  thread: 2\n", "config.yaml:2: unknown key 'http.thread'"},
        {"htp.threads: 2\n", "config.yaml:1: unknown key 'htp.threads'"},
        {"listen:\n  - a\n  - b\n", "config.yaml:2: 'listen': expected a scalar, got a sequence"},
        {"log:\n  level: {a: 1}\n", "config.yaml:2: 'log.level': expected a scalar, got a mapping"},
        {"http: 5\n", "config.yaml:1: 'http': expected a mapping of keys, got a scalar"},
        {"log:\n  level: verbose\n",
         "config.yaml:2: 'log.level': expected one of debug, info, warn, error, got 'verbose'"},
        {"identity:\n  token_lifetime: 59\n",
         "config.yaml:2: 'identity.token_lifetime': 59 is out of range 60..604800"},
        {"identity:\n  max_active_keys: 65\n",
         "config.yaml:2: 'identity.max_active_keys': 65 is out of range 2..64"},
        {"identity:\n  password_hash_iterations: 10000001\n",
         "config.yaml:2: 'identity.password_hash_iterations': 10000001 is out of range "
         "1000..10000000"},
        {"store:\n  pool_size: 99999999999999999999999\n",
         "config.yaml:2: 'store.pool_size': 99999999999999999999999 is out of range 1..256"},
        {"http:\n  threads: 4x\n", "config.yaml:2: 'http.threads': expected an integer, got '4x'"},
        {"http:\n  threads: ' 4'\n",
         "config.yaml:2: 'http.threads': expected an integer, got ' 4'"},
        {"http:\n  threads: 1.5\n",
         "config.yaml:2: 'http.threads': expected an integer, got '1.5'"},
        {"listen: localhost\n",
         "config.yaml:1: 'listen': expected HOST:PORT or [IPv6]:PORT with a port 0..65535, got "
         "'localhost'"},
        {"listen: 1.2.3.4:65536\n",
         "config.yaml:1: 'listen': expected HOST:PORT or [IPv6]:PORT with a port 0..65535, got "
         "'1.2.3.4:65536'"},
        {"listen: '::1:80'\n",
         "config.yaml:1: 'listen': expected HOST:PORT or [IPv6]:PORT with a port 0..65535, got "
         "'::1:80'"},
        {"data_dir: ''\n", "config.yaml:1: 'data_dir': must not be empty"},
        {"store:\n  url: mysql://x\n",
         "config.yaml:2: 'store.url': expected a sqlite:// or postgresql:// URL, got 'mysql://x'"},
        {"public_url: ftp://x\n",
         "config.yaml:1: 'public_url': expected an http:// or https:// URL, got 'ftp://x'"},
        {"listen: 1.2.3.4:1\nlisten: 1.2.3.4:2\n", "config.yaml:2: 'listen': duplicate key"},
        {"http:\n  threads: 1\nhttp.threads: 2\n", "config.yaml:3: 'http.threads': duplicate key"},
        {"? [a, b]\n: 1\n", "config.yaml:1: keys must be scalars, got a sequence"},
        {"- a\n- b\n", "config.yaml:1: expected a mapping of keys, got a sequence"},
        {"just text\n", "config.yaml:1: expected a mapping of keys, got a scalar"},
        {"listen: \"a\\0b:1\"\n", "config.yaml:1: 'listen': value contains a NUL character"},
        {"a: 1\n---\nb: 2\n", "config.yaml:2: only one YAML document is allowed"},
    };
    (void)state;
    assert_int_equal(load(cfg, "http:\n  threads: 3\nlisten: 10.0.0.1:1\n", &err), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(nph_config_init(&before, &err), 0);
        assert_int_equal(load(&before, "http:\n  threads: 3\nlisten: 10.0.0.1:1\n", &err), 0);
        nph_error_clear(&err);
        if (load(cfg, cases[i].yaml, &err) != -1)
            fail_msg("case %zu accepted: %s", i, cases[i].yaml);
        assert_int_equal(err.code, NPH_E_INVALID);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
        assert_config_equal(cfg, &before); /* cfg unchanged, including earlier good keys */
        nph_config_fini(&before);
    }
}

static void test_yaml_malformed(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    static const char *bad[] = {
        "a: b: c\n",
        "listen: 1.2.3.4:5\nhttp:\n  threads: [1, 2\n",
        "log:\n  level: \"info\n",
        "x: *nope\n",
        "\tlisten: 1\n",
    };
    static const char *lines[] = {"config.yaml:1: invalid YAML", "config.yaml:4: invalid YAML",
                                  "config.yaml:3: invalid YAML", "config.yaml:1: invalid YAML",
                                  "config.yaml:1: invalid YAML"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load(cfg, bad[i], &err), -1);
        if (strncmp(err.msg, lines[i], strlen(lines[i])) != 0)
            fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err.msg, lines[i]);
        assert_string_equal(cfg->listen, "127.0.0.1:8787");
    }
}

static void test_file(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char path[] = "/tmp/nph-test-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "log:\n  format: json\n  level: lots\n";
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(nph_config_load_file(cfg, path, &err), -1);
    char want[256];
    snprintf(want, sizeof(want),
             "%s:3: 'log.level': expected one of debug, info, warn, error, got 'lots'", path);
    assert_string_equal(err.msg, want);
    assert_string_equal(cfg->log_format, "text");
    unlink(path);
    assert_int_equal(nph_config_load_file(cfg, path, &err), -1);
    assert_int_equal(err.code, NPH_E_IO);
    assert_non_null(strstr(err.msg, path));
}

static void test_env_and_set(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char name[64];
    char *env[] = {"PATH=/bin",
                   "NEPHELE_STORE_URL=sqlite:///srv/n.db",
                   "NEPHELE_HTTP_THREADS=5",
                   "NEPHELE_LOG_LEVEL=warn",
                   "NEPHELE_MASTER_KEY_FILE=/x",
                   "NEPHELE_HTTP_THREADS_X=1",
                   NULL};
    char *bad_env[] = {"NEPHELE_LOG_FORMAT=json", "NEPHELE_HTTP_MAX_JSON_DEPTH=deep", NULL};
    (void)state;

    assert_int_equal(nph_config_env_name("store.url", name, sizeof(name)), 0);
    assert_string_equal(name, "NEPHELE_STORE_URL");
    assert_int_equal(nph_config_env_name("identity.token_lifetime", name, 8), -1);

    /* defaults < file < env < set */
    assert_int_equal(
        load(cfg, "http:\n  threads: 2\n  max_json_depth: 10\nlog:\n  level: error\n", &err), 0);
    assert_int_equal(nph_config_load_env(cfg, env, &err), 0);
    assert_string_equal(cfg->store_url, "sqlite:///srv/n.db");
    assert_int_equal(cfg->http_threads, 5);
    assert_int_equal(cfg->http_max_json_depth, 10); /* from the file, not overridden */
    assert_string_equal(cfg->log_level, "warn");
    assert_int_equal(nph_config_set(cfg, "log.level", "debug", &err), 0);
    assert_string_equal(cfg->log_level, "debug");

    /* a bad environment leaves everything as it was, even the good variable before it */
    assert_int_equal(nph_config_load_env(cfg, bad_env, &err), -1);
    assert_string_equal(err.msg, "environment NEPHELE_HTTP_MAX_JSON_DEPTH: 'http.max_json_depth': "
                                 "expected an integer, got 'deep'");
    assert_string_equal(cfg->log_format, "text");

    /* set validates like the file does */
    assert_int_equal(nph_config_set(cfg, "htp.threads", "1", &err), -1);
    assert_string_equal(err.msg, "unknown key 'htp.threads'");
    assert_int_equal(nph_config_set(cfg, "http.threads", "-1", &err), -1);
    assert_string_equal(err.msg, "'http.threads': -1 is out of range 0..1024");
    assert_int_equal(nph_config_set(cfg, "listen", "[::1]8787", &err), -1);
    assert_int_equal(nph_config_set(cfg, "http", "1", &err), -1);
    assert_int_equal(cfg->http_threads, 5);
    assert_int_equal(nph_config_set(cfg, "listen", "[::]:0", &err), 0);
    assert_int_equal(nph_config_set(cfg, "listen", "0.0.0.0:65535", &err), 0);
    assert_int_equal(nph_config_set(cfg, "listen", "[fe80::1%eth0]:80", &err), 0);
    assert_int_equal(nph_config_set(cfg, "listen", "host.example:443", &err), 0);
    assert_int_equal(nph_config_set(cfg, "listen", ":80", &err), -1);
    assert_int_equal(nph_config_set(cfg, "listen", "[]:80", &err), -1);
    assert_int_equal(nph_config_set(cfg, "listen", "h:", &err), -1);
    assert_int_equal(nph_config_set(cfg, "listen", "h:-1", &err), -1);
    assert_int_equal(nph_config_set(cfg, "listen", "h:008080", &err), -1);
    assert_string_equal(cfg->listen, "host.example:443");
}

static void test_finish(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    char cwd[4096], want[4200];
    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));

    assert_int_equal(nph_config_finish(cfg, &err), 0);
    assert_string_equal(cfg->public_url, "http://127.0.0.1:8787");
    snprintf(want, sizeof(want), "sqlite://%s/data/nephele.db", cwd);
    assert_string_equal(cfg->store_url, want);
    snprintf(want, sizeof(want), "%s/data/token-keys", cwd);
    assert_string_equal(cfg->identity_token_keys_dir, want);

    /* explicit values are kept; absolute data_dir used as is */
    struct nph_config c2;
    assert_int_equal(nph_config_init(&c2, &err), 0);
    assert_int_equal(load(&c2,
                          "listen: '[::1]:9'\ndata_dir: /srv/neph/\n"
                          "public_url: https://cloud.example\n",
                          &err),
                     0);
    assert_int_equal(nph_config_finish(&c2, &err), 0);
    assert_string_equal(c2.public_url, "https://cloud.example");
    assert_string_equal(c2.store_url, "sqlite:///srv/neph/nephele.db");
    assert_string_equal(c2.identity_token_keys_dir, "/srv/neph/token-keys");
    nph_config_fini(&c2);

    assert_int_equal(nph_config_init(&c2, &err), 0);
    assert_int_equal(nph_config_set(&c2, "listen", "[::1]:9", &err), 0);
    assert_int_equal(nph_config_finish(&c2, &err), 0);
    assert_string_equal(c2.public_url, "http://[::1]:9");
    nph_config_fini(&c2);

    /* finish re-validates and leaves cfg alone on error */
    assert_int_equal(nph_config_init(&c2, &err), 0);
    free(c2.listen);
    c2.listen = strdup("nonsense");
    assert_int_equal(nph_config_finish(&c2, &err), -1);
    assert_non_null(strstr(err.msg, "'listen'"));
    assert_string_equal(c2.public_url, "");
    nph_config_fini(&c2);
    nph_config_fini(NULL);
}

static void test_sample_round_trip(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_config changed, fresh;
    struct nph_error err = NPH_ERROR_INIT;
    char *sample = nph_config_sample();
    (void)state;
    assert_non_null(sample);
    /* every key and its env name appear in the sample */
    for (const struct nph_config_key *k = nph_config_keys(); k->key; k++) {
        char env[96];
        const char *leaf = strrchr(k->key, '.') ? strrchr(k->key, '.') + 1 : k->key;
        nph_config_env_name(k->key, env, sizeof(env));
        assert_non_null(strstr(sample, env));
        assert_non_null(strstr(sample, leaf));
    }
    /* loading the sample over a changed config restores every default */
    assert_int_equal(nph_config_init(&changed, &err), 0);
    assert_int_equal(load(&changed,
                          "listen: 1.1.1.1:1\nhttp: {threads: 9}\nlog: {format: json}\n"
                          "identity: {region: X, token_lifetime: 60}\n",
                          &err),
                     0);
    if (load(&changed, sample, &err) != 0)
        fail_msg("sample does not parse: %s\n%s", err.msg, sample);
    assert_int_equal(nph_config_init(&fresh, &err), 0);
    assert_config_equal(&changed, &fresh);
    assert_config_equal(cfg, &fresh);
    nph_config_fini(&changed);
    nph_config_fini(&fresh);
    free(sample);
}

/* `clouds:` is kept as JSON with YAML 1.2 core types; errors name the line; a failed load
 * keeps the previous sections. */
static void test_sections(void **state)
{
    struct nph_config *cfg = *state;
    struct nph_error err = NPH_ERROR_INIT;
    const char *yaml = "clouds:\n"
                       "  - name: home\n"
                       "    kind: local\n"
                       "    labels: {tier: \"1\", n: 1, r: 1.5, on: true, off: no, z: ~}\n"
                       "listen: 127.0.0.1:9000\n";
    assert_int_equal(nph_config_load_yaml(cfg, "c.yaml", yaml, strlen(yaml), &err), 0);
    json_t *clouds = json_object_get(cfg->sections, "clouds");
    assert_int_equal(json_array_size(clouds), 1);
    json_t *labels = json_object_get(json_array_get(clouds, 0), "labels");
    assert_true(json_is_string(json_object_get(labels, "tier")));
    assert_true(json_is_integer(json_object_get(labels, "n")));
    assert_true(json_is_real(json_object_get(labels, "r")));
    assert_true(json_is_true(json_object_get(labels, "on")));
    assert_true(json_is_string(json_object_get(labels, "off"))); /* YAML 1.2: "no" is text */
    assert_true(json_is_null(json_object_get(labels, "z")));

    const char *dup = "clouds: []\nclouds: []\n";
    assert_int_equal(nph_config_load_yaml(cfg, "d.yaml", dup, strlen(dup), &err), -1);
    assert_non_null(strstr(err.msg, "d.yaml:2: 'clouds': duplicate key"));
    const char *dupkey = "clouds:\n  - name: a\n    name: b\n";
    assert_int_equal(nph_config_load_yaml(cfg, "k.yaml", dupkey, strlen(dupkey), &err), -1);
    assert_non_null(strstr(err.msg, "k.yaml:3: duplicate key 'name'"));
    /* the failed loads changed nothing */
    assert_int_equal(json_array_size(json_object_get(cfg->sections, "clouds")), 1);

    /* nph_yaml_to_json on its own */
    json_t *j = nph_yaml_to_json("x.yaml", "a: [1, b]\n", 10, &err);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "a")), 2);
    json_decref(j);
    assert_null(nph_yaml_to_json("x.yaml", "a: [\n", 6, &err));
    assert_non_null(strstr(err.msg, "x.yaml:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
