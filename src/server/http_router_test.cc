#include "server/http_router.h"

#include <gtest/gtest.h>

namespace tb::server {
namespace {

TEST(PercentDecode, DecodesEscapesAndPlusOnlyInQueries) {
  EXPECT_EQ(*PercentDecode("/api/services/my%20svc/operations", false), "/api/services/my svc/operations");
  EXPECT_EQ(*PercentDecode("a+b%2Bc", true), "a b+c");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(*PercentDecode("%e2%9C%93", false), "\xe2\x9c\x93");
  for (const char* bad : {"%", "%4", "%zz", "abc%4g"})
    EXPECT_EQ(PercentDecode(bad, true).status().code(), StatusCode::kInvalidArgument) << bad;
}

TEST(ParseQueryString, KeepsOrderRepeatsAndEmptyValues) {
  auto params = ParseQueryString("tag=a%3A1&tag=b:2&flag&&limit=20&=x");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->count("tag"), 2u);
  auto [first, end] = params->equal_range("tag");
  EXPECT_EQ(first->second, "a:1");
  EXPECT_EQ(std::next(first)->second, "b:2");
  EXPECT_EQ(params->find("flag")->second, "");
  EXPECT_EQ(params->find("limit")->second, "20");
  EXPECT_EQ(params->find("")->second, "x");
  EXPECT_FALSE(ParseQueryString("a=%G1").ok());
}

TEST(HttpRouter, MatchesWholePathsByMethodInOrderAndServesHeadByGet) {
  HttpRouter router;
  int hit = 0;
  router.Get("/api/traces/([^/]+)", [&](const HttpRequest&, HttpResponse&) { hit = 1; });
  router.Get("/api/traces", [&](const HttpRequest&, HttpResponse&) { hit = 2; });
  router.Post("/v1/traces", [&](const HttpRequest&, HttpResponse&) { hit = 3; });
  std::vector<std::string> matches;
  HttpRequest req;
  HttpResponse res;
  const auto* route = router.Find("GET", "/api/traces/abc", &matches);
  ASSERT_NE(route, nullptr);
  route->handler(req, res);
  EXPECT_EQ(hit, 1);
  EXPECT_EQ(matches, (std::vector<std::string>{"/api/traces/abc", "abc"}));
  EXPECT_EQ(router.Find("HEAD", "/api/traces", &matches)->takes_body, false);
  EXPECT_TRUE(router.Find("POST", "/v1/traces", &matches)->takes_body);
  EXPECT_EQ(router.Find("GET", "/v1/traces", &matches), nullptr);
  EXPECT_EQ(router.Find("GET", "/api/traces/abc/def", &matches), nullptr);
  EXPECT_EQ(router.Find("GET", "/prefix/api/traces", &matches), nullptr);
}

TEST(HttpRequest, HeadersCompareWithoutCase) {
  HttpRequest req;
  req.headers.emplace("Content-Type", "application/json");
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_TRUE(req.HasHeader("CONTENT-TYPE"));
  EXPECT_EQ(req.Header("Accept"), "");
}

}  // namespace
}  // namespace tb::server
