/*
 * test_openstack_nova.c - Nova and Glance documents into Nephele's structs and back: a full
 * server at 2.37, an embedded flavor (2.47+), a volume-booted server, wrong types, missing and
 * oversized fields; flavors and images; the POST /servers and action bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nph_json.h"
#include "openstack/openstack_internal.h"

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

static const char server_237[] =
    "{\"id\": \"9168b536-cd40-4630-b43f-b259807c6e87\", \"name\": \"web-1\", \"status\": "
    "\"ACTIVE\", \"tenant_id\": \"p\", \"user_id\": \"u\", \"metadata\": {\"nephele_op\": "
    "\"op-123\", \"role\": \"web\"}, \"hostId\": \"h\", \"image\": {\"id\": "
    "\"70a599e0-31e7-49b7-b260-868f441e862b\", \"links\": []}, \"flavor\": {\"id\": \"1\", "
    "\"links\": []}, \"created\": \"2026-11-26T08:00:00Z\", \"updated\": "
    "\"2026-11-26T08:00:05Z\", \"addresses\": {\"private\": [{\"addr\": \"10.0.0.5\", "
    "\"version\": 4}]}, \"accessIPv4\": \"\", \"OS-EXT-AZ:availability_zone\": \"nova\", "
    "\"OS-EXT-STS:power_state\": 1, \"progress\": 0}";

static void test_server_full(void **state)
{
    (void)state;
    struct nph_server s;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load(server_237);
    assert_int_equal(os_server_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_string_equal(s.remote_id, "9168b536-cd40-4630-b43f-b259807c6e87");
    assert_string_equal(s.name, "web-1");
    assert_string_equal(s.status, "ACTIVE");
    assert_string_equal(s.offering_id, "1");
    assert_string_equal(s.image_id, "70a599e0-31e7-49b7-b260-868f441e862b");
    assert_string_equal(s.availability_zone, "nova");
    assert_string_equal(s.created, "2026-11-26T08:00:00Z");
    assert_string_equal(s.updated, "2026-11-26T08:00:05Z");
    assert_string_equal(s.op_key, "op-123");
    assert_string_equal(s.fault, "");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(s.addresses, "private"), 0), "addr")),
                        "10.0.0.5");
    nph_server_fini(&s);
    assert_null(s.addresses);
}

static void test_server_variants(void **state)
{
    (void)state;
    struct nph_server s;
    struct nph_error err = NPH_ERROR_INIT;
    /* 2.47+: the flavor embedded, without an id; booted from a volume: image "" */
    json_t *j = load("{\"id\": \"s1\", \"status\": \"ERROR\", \"image\": \"\", \"flavor\": "
                     "{\"original_name\": \"m1.small\", \"vcpus\": 1, \"ram\": 2048, \"disk\": "
                     "20, \"extra_specs\": {}}, \"fault\": {\"code\": 500, \"message\": "
                     "\"No valid host was found.\", \"created\": \"2026-01-01T00:00:00Z\"}, "
                     "\"OS-EXT-AZ:availability_zone\": null}");
    assert_int_equal(os_server_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_string_equal(s.offering_id, "m1.small");
    assert_string_equal(s.image_id, "");
    assert_string_equal(s.fault, "No valid host was found.");
    assert_string_equal(s.availability_zone, "");
    assert_string_equal(s.name, "");
    assert_string_equal(s.op_key, "");
    assert_null(s.addresses);
    nph_server_fini(&s);

    /* oversized strings are truncated at a character boundary, never overflowed */
    char big[600], doc[2048];
    memset(big, 'n', sizeof(big) - 3);
    memcpy(big + 254, "\xc3\xa9", 2); /* an 'é' across the 255-byte limit */
    big[sizeof(big) - 3] = '\0';
    snprintf(doc, sizeof(doc),
             "{\"id\": \"s2\", \"status\": \"BUILD\", \"name\": \"%s\", \"fault\": {\"message\": "
             "\"%s\"}, \"metadata\": {\"nephele_op\": \"%s\"}}",
             big, big, big);
    j = load(doc);
    assert_int_equal(os_server_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_int_equal(strlen(s.name), 254);
    assert_true(nph_utf8_valid(s.name, strlen(s.name)));
    assert_int_equal(strlen(s.fault), 254);
    assert_int_equal(strlen(s.op_key), 63);
    nph_server_fini(&s);
}

static void test_server_garbage(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *why;
    } bad[] = {
        {"[]", "not an object"},
        {"{\"status\": \"ACTIVE\"}", "'id' is missing"},
        {"{\"id\": 7, \"status\": \"ACTIVE\"}", "'id' is missing or not a string"},
        {"{\"id\": \"s\"}", "'status' is missing"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"name\": 5}", "'name' is not a string"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"flavor\": \"1\"}", "'flavor' is not an object"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"flavor\": {\"id\": 1}}", "'flavor.id'"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"image\": 3}", "'image' is neither"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"image\": {\"id\": []}}",
         "'id' is not a string"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"metadata\": []}",
         "'metadata' is not an object"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"metadata\": {\"nephele_op\": 1}}",
         "'nephele_op' is not a string"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"fault\": \"boom\"}",
         "'fault' is not an object"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"addresses\": []}", "'addresses'"},
        {"{\"id\": \"s\", \"status\": \"ACTIVE\", \"created\": 1}", "'created' is not a string"},
        {"{\"id\": \"0123456789012345678901234567890123456789012345678901234567890123456789\", "
         "\"status\": \"ACTIVE\"}",
         "'id' is longer than 63 bytes"},
        {"{\"id\": \"s\", \"status\": \"A_STATUS_FAR_LONGER_THAN_NOVA_HAS\"}",
         "'status' is longer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nph_server s;
        struct nph_error err = NPH_ERROR_INIT;
        memset(&s, 0x5a, sizeof(s));
        json_t *j = load(bad[i].doc);
        assert_int_equal(os_server_from_json(j, &s, &err), -1);
        json_decref(j);
        assert_int_equal(err.code, NPH_E_BACKEND);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].why);
        assert_int_equal((unsigned char)s.remote_id[0], 0x5a); /* out untouched */
    }
    struct nph_error err = NPH_ERROR_INIT;
    struct nph_server s;
    assert_int_equal(os_server_from_json(NULL, &s, &err), -1);
}

static void test_offerings_and_images(void **state)
{
    (void)state;
    struct nph_offering o;
    struct nph_image im;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *j = load("{\"id\": \"42\", \"name\": \"g1.large\", \"vcpus\": 8, \"ram\": 32768, "
                     "\"disk\": 80, \"OS-FLV-EXT-DATA:ephemeral\": 0, \"extra_specs\": "
                     "{\"resources:VGPU\": \"2\"}}");
    assert_int_equal(os_offering_from_json(j, &o, &err), 0);
    json_decref(j);
    assert_string_equal(o.id, "42");
    assert_string_equal(o.name, "g1.large");
    assert_int_equal(o.vcpus, 8);
    assert_int_equal(o.ram_mb, 32768);
    assert_int_equal(o.disk_gb, 80);
    assert_int_equal(o.gpus, 2);
    static const char *const bad_flavors[] = {
        "{\"name\": \"x\"}",
        "{\"id\": \"1\", \"vcpus\": \"8\"}",
        "{\"id\": \"1\", \"ram\": -1}",
        "{\"id\": \"1\", \"extra_specs\": []}",
        "7",
    };
    for (size_t i = 0; i < sizeof(bad_flavors) / sizeof(bad_flavors[0]); i++) {
        j = load(bad_flavors[i]);
        assert_int_equal(os_offering_from_json(j, &o, &err), -1);
        assert_int_equal(err.code, NPH_E_BACKEND);
        json_decref(j);
    }

    j = load("{\"id\": \"70a599e0-31e7-49b7-b260-868f441e862b\", \"name\": \"cirros\", "
             "\"status\": \"active\", \"disk_format\": \"qcow2\", \"size\": 16338944, "
             "\"visibility\": \"public\"}");
    assert_int_equal(os_image_from_json(j, &im, &err), 0);
    json_decref(j);
    assert_string_equal(im.name, "cirros");
    assert_string_equal(im.status, "active");
    assert_string_equal(im.disk_format, "qcow2");
    assert_int_equal(im.size, 16338944);
    j = load("{\"id\": \"i\", \"name\": null, \"status\": \"queued\", \"disk_format\": null, "
             "\"size\": null}");
    assert_int_equal(os_image_from_json(j, &im, &err), 0);
    json_decref(j);
    assert_string_equal(im.name, "");
    assert_int_equal(im.size, 0);
    static const char *const bad_images[] = {
        "{\"name\": \"x\"}",
        "{\"id\": \"i\", \"name\": 1}",
        "{\"id\": \"i\", \"size\": \"big\"}",
        "{\"id\": \"i\", \"size\": -5}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad_images) / sizeof(bad_images[0]); i++) {
        j = load(bad_images[i]);
        assert_int_equal(os_image_from_json(j, &im, &err), -1);
        assert_int_equal(err.code, NPH_E_BACKEND);
        json_decref(j);
    }
}

static void test_create_body(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    json_t *meta = load("{\"role\": \"web\"}");
    struct nph_server_spec spec = {
        .name = "vm",
        .offering_id = "1",
        .image_id = "img",
        .key_name = "k",
        .availability_zone = "az1",
        .metadata = meta,
        .user_data = "I2Nsb3VkLWNvbmZpZw==",
        .idempotency_key = "op-9",
    };
    json_t *b = os_server_create_body(&spec, OS_NET_NONE, NULL, 2090, &err);
    json_t *want =
        json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:s}}", "server", "name", "vm",
                  "flavorRef", "1", "imageRef", "img", "key_name", "k", "availability_zone", "az1",
                  "user_data", "I2Nsb3VkLWNvbmZpZw==", "metadata", "role", "web", "nephele_op",
                  "op-9", "networks", "none");
    assert_true(json_equal(b, want));
    json_decref(b);
    json_decref(want);
    assert_null(json_object_get(meta, "nephele_op")); /* the caller's metadata is not changed */

    b = os_server_create_body(&spec, OS_NET_AUTO, NULL, 2037, &err);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "server"), "networks")), "auto");
    json_decref(b);
    /* before 2.37 "none"/"auto" cannot be said: networks is left out */
    b = os_server_create_body(&spec, OS_NET_NONE, NULL, 2001, &err);
    assert_null(json_object_get(json_object_get(b, "server"), "networks"));
    json_decref(b);
    b = os_server_create_body(&spec, OS_NET_UUID, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 2001,
                              &err);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(b, "server"), "networks"), 0), "uuid")),
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    json_decref(b);
    /* volume boot: no image */
    spec.image_id = NULL;
    b = os_server_create_body(&spec, OS_NET_NONE, NULL, 2037, &err);
    assert_null(json_object_get(json_object_get(b, "server"), "imageRef"));
    json_decref(b);

    json_object_set_new(meta, "n", json_integer(1));
    assert_null(os_server_create_body(&spec, OS_NET_NONE, NULL, 2037, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    json_decref(meta);
    spec.metadata = NULL;
    spec.idempotency_key = NULL;
    assert_null(os_server_create_body(&spec, OS_NET_NONE, NULL, 2037, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
}

static void test_action_bodies(void **state)
{
    (void)state;
    struct nph_error err = NPH_ERROR_INIT;
    static const struct {
        enum nph_server_action a;
        const char *arg, *want;
    } cases[] = {
        {NPH_SA_START, NULL, "{\"os-start\": null}"},
        {NPH_SA_STOP, NULL, "{\"os-stop\": null}"},
        {NPH_SA_REBOOT_SOFT, NULL, "{\"reboot\": {\"type\": \"SOFT\"}}"},
        {NPH_SA_REBOOT_HARD, NULL, "{\"reboot\": {\"type\": \"HARD\"}}"},
        {NPH_SA_RESIZE, "3", "{\"resize\": {\"flavorRef\": \"3\"}}"},
        {NPH_SA_CONFIRM_RESIZE, NULL, "{\"confirmResize\": null}"},
        {NPH_SA_REVERT_RESIZE, NULL, "{\"revertResize\": null}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = os_action_body(cases[i].a, cases[i].arg, &err);
        json_t *want = load(cases[i].want);
        if (!json_equal(b, want))
            fail_msg("action %s", nph_server_action_name(cases[i].a));
        json_decref(b);
        json_decref(want);
    }
    assert_null(os_action_body(NPH_SA_RESIZE, NULL, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
    assert_null(os_action_body((enum nph_server_action)99, NULL, &err));
    assert_int_equal(err.code, NPH_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_full),    cmocka_unit_test(test_server_variants),
        cmocka_unit_test(test_server_garbage), cmocka_unit_test(test_offerings_and_images),
        cmocka_unit_test(test_create_body),    cmocka_unit_test(test_action_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
