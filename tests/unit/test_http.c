/* Unit tests for the pure parts of exporter/http.c: answer classification,
 * backoff, Retry-After, header lines, JSON partial success, gzip. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <curl/curl.h>
#include <string.h>
#include <zlib.h>

#include "../../exporter/exp.h"

Test(http, classify_statuses_and_transport_errors)
{
	cr_expect_eq(ots_http_classify(CURLE_OK, 200), OTS_HTTP_DONE);
	cr_expect_eq(ots_http_classify(CURLE_OK, 202), OTS_HTTP_DONE);
	const long retry[] = { 429, 502, 503, 504 };
	for (int i = 0; i < 4; i++)
		cr_expect_eq(ots_http_classify(CURLE_OK, retry[i]), OTS_HTTP_RETRY, "%ld", retry[i]);
	const long fail[] = { 301, 400, 401, 403, 404, 413, 500, 501, 505 };
	for (int i = 0; i < 9; i++)
		cr_expect_eq(ots_http_classify(CURLE_OK, fail[i]), OTS_HTTP_FAIL, "%ld", fail[i]);
	const int tr[] = { CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
			   CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_COULDNT_RESOLVE_HOST };
	for (int i = 0; i < 6; i++)
		cr_expect_eq(ots_http_classify(tr[i], 0), OTS_HTTP_RETRY, "curl %d", tr[i]);
	cr_expect_eq(ots_http_classify(CURLE_PEER_FAILED_VERIFICATION, 0), OTS_HTTP_FAIL);
	cr_expect_eq(ots_http_classify(CURLE_URL_MALFORMAT, 0), OTS_HTTP_FAIL);
}

Test(http, backoff_doubles_with_jitter_and_is_capped)
{
	for (uint64_t rnd = 0; rnd < 2000; rnd += 7) {
		for (uint32_t a = 1; a < 12; a++) {
			uint64_t d = 200000000ull << (a - 1);
			if (d > 5000000000ull)
				d = 5000000000ull;
			uint64_t b = ots_http_backoff_ns(a, rnd * 1000003ull);
			cr_assert(b >= d / 2 && b <= d, "attempt %u: %llu not in [%llu, %llu]", a,
				  (unsigned long long)b, (unsigned long long)d / 2,
				  (unsigned long long)d);
		}
	}
	cr_expect_neq(ots_http_backoff_ns(3, 1), ots_http_backoff_ns(3, 123456789), "jitter");
}

Test(http, retry_after_seconds_and_http_date)
{
	int64_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	cr_expect_eq(ots_http_retry_after("0", now), 0);
	cr_expect_eq(ots_http_retry_after(" 120\r\n", now), 120);
	cr_expect_eq(ots_http_retry_after("Tue, 14 Nov 2023 22:13:25 GMT", now), 5);
	cr_expect_eq(ots_http_retry_after(" Tue, 14 Nov 2023 22:13:25 GMT\r\n", now), 5);
	cr_expect_eq(ots_http_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now), 0, "past: now");
	cr_expect_eq(ots_http_retry_after("Tuesday, 14-Nov-23 22:13:30 GMT", now), 10, "RFC 850");
	cr_expect_eq(ots_http_retry_after("", now), -1);
	cr_expect_eq(ots_http_retry_after("12abc", now), -1);
	cr_expect_eq(ots_http_retry_after("-5", now), -1);
	cr_expect_eq(ots_http_retry_after("soon", now), -1);
	cr_expect_eq(ots_http_retry_after("99999999999999", now), -1);
}

static char lines[16][128];
static int nlines;

static void collect(const char *line, void *arg)
{
	(void)arg;
	snprintf(lines[nlines++], sizeof lines[0], "%s", line);
}

Test(http, header_lines_decoded, .init = cr_redirect_stderr)
{
	nlines = 0;
	int refused = ots_http_header_lines("api-key=a%20b%3Dc , X-Tenant = blue ,empty=,k2=v;prop=1",
					    collect, NULL);
	cr_expect_eq(refused, 0);
	cr_assert_eq(nlines, 4);
	cr_expect_str_eq(lines[0], "api-key: a b=c");
	cr_expect_str_eq(lines[1], "X-Tenant: blue");
	cr_expect_str_eq(lines[2], "empty;", "curl's form of an empty header");
	cr_expect_str_eq(lines[3], "k2: v", "baggage properties are not part of the value");
}

Test(http, header_lines_refuse_crlf_bad_names_and_framing, .init = cr_redirect_stderr)
{
	nlines = 0;
	int refused = ots_http_header_lines("a=x%0d%0aEvil: 1,b%0a=1,bad name=1,Content-Type=text/x,"
					    "Host=h,good=yes,novalue",
					    collect, NULL);
	cr_expect_eq(refused, 6, "refused %d", refused);
	cr_assert_eq(nlines, 1);
	cr_expect_str_eq(lines[0], "good: yes");
	fflush(stderr);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, cr_get_redirected_stderr());
	buf[n] = '\0';
	cr_expect(strstr(buf, "\"a\" contains CR or LF"), "%s", buf);
	cr_expect(strstr(buf, "is set by the exporter"), "%s", buf);
	cr_expect(strstr(buf, "not a valid header name"), "%s", buf);
}

Test(http, json_partial_success)
{
	int64_t rej;
	char msg[64];
	const char *a = "{\"partialSuccess\": {\"rejectedSpans\": \"12\", \"errorMessage\": \"too \\\"old\\\"\"}}";
	cr_assert_eq(ots_http_json_partial(a, strlen(a), &rej, msg, sizeof msg), 0);
	cr_expect_eq(rej, 12);
	cr_expect_str_eq(msg, "too \"old\"");
	const char *b = "{\"partialSuccess\":{\"rejectedSpans\":3}}";
	ots_http_json_partial(b, strlen(b), &rej, msg, sizeof msg);
	cr_expect_eq(rej, 3);
	cr_expect_str_eq(msg, "");
	ots_http_json_partial("{}", 2, &rej, msg, sizeof msg);
	cr_expect_eq(rej, 0);
	const char *c = "{\"partialSuccess\":{\"errorMessage\":\"just a warning\"}}";
	ots_http_json_partial(c, strlen(c), &rej, msg, sizeof msg);
	cr_expect_eq(rej, 0);
	cr_expect_str_eq(msg, "just a warning");
}

Test(http, gzip_round_trip)
{
	char in[20000];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = "spans and locks "[i % 16];
	ots_buf_t z = { 0 };
	cr_assert_eq(ots_http_gzip(&z, in, sizeof in), 0);
	cr_expect_lt(z.len, sizeof in / 10);
	cr_expect_eq((uint8_t)z.data[0], 0x1f);
	cr_expect_eq((uint8_t)z.data[1], 0x8b);
	char out[sizeof in + 16];
	z_stream s = { 0 };
	cr_assert_eq(inflateInit2(&s, 16 + 15), Z_OK);
	s.next_in = (Bytef *)z.data;
	s.avail_in = (uInt)z.len;
	s.next_out = (Bytef *)out;
	s.avail_out = sizeof out;
	cr_expect_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(s.total_out, sizeof in);
	cr_expect_eq(memcmp(in, out, sizeof in), 0);
	inflateEnd(&s);
	ots_buf_free(&z);
}
