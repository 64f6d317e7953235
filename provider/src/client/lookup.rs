//! Read-only lookups for the data sources: one instance with what only the raw GetKmsInstance
//! response carries, the instances of a region (ListKmsInstances, paged), the BSS renewal
//! settings of a region in one go, and the zones and vSwitches of a region (VPC).

use serde_json::Value;

use super::kms::{n as number, parse_instance, s as text, InstanceInfo};
use super::{ApiError, Client, Product};

/// A purchase's renewal settings as QueryAvailableInstances lists them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Renewal {
    pub id: String,
    pub region: String,
    pub renew_status: String,
    pub renewal_duration: i64,
}

/// A zone of a region (VPC DescribeZones).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneInfo {
    pub id: String,
    pub local_name: String,
}

/// A vSwitch (VPC DescribeVSwitches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VSwitchInfo {
    pub id: String,
    pub vpc_id: String,
    pub zone_id: String,
    pub free_ips: i64,
}

/// ListKmsInstances allows up to 100 a page, DescribeVSwitches 50, QueryAvailableInstances 300.
const KMS_PAGE: usize = 100;
const VPC_PAGE: usize = 50;
const BSS_PAGE: usize = 300;

fn p(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// The items of a wrapped POP list (`{"VSwitches": {"VSwitch": [...]}}`).
fn wrapped<'v>(body: &'v Value, outer: &str, inner: &str) -> &'v [Value] {
    body[outer][inner].as_array().map_or(&[], Vec::as_slice)
}

/// Pages until `total` items were read or a page comes back empty.
fn done(read: usize, page_len: usize, total: i64) -> bool {
    page_len == 0 || read as i64 >= total
}

impl Client {
    /// GetKmsInstance. A missing instance stays an error (see [`ApiError::is_instance_not_found`])
    /// so that a data source can report the API's own message; resources map it to "gone"
    /// through [`Client::find_kms_instance`].
    pub async fn get_kms_instance_detail(&self, id: &str) -> Result<InstanceInfo, ApiError> {
        let body = self
            .call(Product::Kms, "GetKmsInstance", &[p("KmsInstanceId", id)])
            .await?;
        Ok(parse_instance(&body["KmsInstance"]))
    }

    /// Every instance id ListKmsInstances gives for `region`, in the order listed.
    pub async fn list_kms_instance_ids(&self, region: &str) -> Result<Vec<String>, ApiError> {
        let mut ids = Vec::new();
        for page in 1.. {
            let body = self
                .call(
                    Product::Kms,
                    "ListKmsInstances",
                    &[
                        p("RegionId", region),
                        p("PageSize", KMS_PAGE),
                        p("PageNumber", page),
                    ],
                )
                .await?;
            let items = wrapped(&body, "KmsInstances", "KmsInstance");
            ids.extend(items.iter().map(|i| text(i, "KmsInstanceId")));
            if done(ids.len(), items.len(), number(&body, "TotalCount")) {
                break;
            }
        }
        ids.retain(|i| !i.is_empty());
        Ok(ids)
    }

    /// QueryAvailableInstances for the kms product in `region`: renewal settings of every
    /// purchase, in as few calls as the page size allows.
    pub async fn renewals_in(&self, region: &str) -> Result<Vec<Renewal>, ApiError> {
        let mut out = Vec::new();
        for page in 1.. {
            let body = self
                .call(
                    Product::Bss,
                    "QueryAvailableInstances",
                    &[
                        p("ProductCode", "kms"),
                        p("Region", region),
                        p("PageSize", BSS_PAGE),
                        p("PageNum", page),
                    ],
                )
                .await?;
            let data = &body["Data"];
            let items = data["InstanceList"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            out.extend(items.iter().map(|i| Renewal {
                id: text(i, "InstanceID"),
                region: text(i, "Region"),
                renew_status: text(i, "RenewStatus"),
                renewal_duration: number(i, "RenewalDuration"),
            }));
            if done(out.len(), items.len(), number(data, "TotalCount")) {
                break;
            }
        }
        Ok(out)
    }

    /// VPC DescribeZones for `region`.
    pub async fn describe_zones(&self, region: &str) -> Result<Vec<ZoneInfo>, ApiError> {
        let body = self
            .call(Product::Vpc, "DescribeZones", &[p("RegionId", region)])
            .await?;
        Ok(wrapped(&body, "Zones", "Zone")
            .iter()
            .map(|z| ZoneInfo {
                id: text(z, "ZoneId"),
                local_name: text(z, "LocalName"),
            })
            .filter(|z| !z.id.is_empty())
            .collect())
    }

    /// VPC DescribeVSwitches for `region`, optionally of one VPC, every page.
    pub async fn describe_vswitches(
        &self,
        region: &str,
        vpc_id: Option<&str>,
    ) -> Result<Vec<VSwitchInfo>, ApiError> {
        let mut out = Vec::new();
        for page in 1.. {
            let mut params = vec![
                p("RegionId", region),
                p("PageSize", VPC_PAGE),
                p("PageNumber", page),
            ];
            if let Some(v) = vpc_id {
                params.push(p("VpcId", v));
            }
            let body = self
                .call(Product::Vpc, "DescribeVSwitches", &params)
                .await?;
            let items = wrapped(&body, "VSwitches", "VSwitch");
            out.extend(items.iter().map(|v| VSwitchInfo {
                id: text(v, "VSwitchId"),
                vpc_id: text(v, "VpcId"),
                zone_id: text(v, "ZoneId"),
                free_ips: number(v, "AvailableIpAddressCount"),
            }));
            if done(out.len(), items.len(), number(&body, "TotalCount")) {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! Paging and parsing against wiremock.
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{header, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client(uri: &str) -> Client {
        crate::client::tests::client(uri, 0)
    }

    #[test]
    fn instance_reads_region_from_the_arn_and_protection_in_both_spellings() {
        let d = parse_instance(&json!({
            "InstanceId": "kst-1", "KmsInstanceArn": "acs:kms:cn-shanghai:123:keystore/kst-1",
            "DeletionProtection": true
        }));
        assert_eq!(d.id, "kst-1");
        assert_eq!(d.arn_region, "cn-shanghai");
        assert!(d.deletion_protection);
        let d = parse_instance(&json!({"InstanceId": "kst-2", "DeletionProtection": "Disabled"}));
        assert_eq!(d.arn_region, "");
        assert!(!d.deletion_protection);
    }

    #[tokio::test]
    async fn instance_ids_are_read_page_by_page_until_the_total() {
        let server = MockServer::start().await;
        let page = |n: &str, ids: &[&str]| {
            let items: Vec<Value> = ids.iter().map(|i| json!({"KmsInstanceId": i})).collect();
            Mock::given(header("x-acs-action", "ListKmsInstances"))
                .and(query_param("PageNumber", n))
                .and(query_param("PageSize", "100"))
                .and(query_param("RegionId", "cn-hangzhou"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "RequestId": "r", "TotalCount": 3,
                    "KmsInstances": {"KmsInstance": items}
                })))
        };
        page("1", &["kst-a", "kst-b"]).mount(&server).await;
        page("2", &["kst-c"]).mount(&server).await;
        let ids = client(&server.uri())
            .list_kms_instance_ids("cn-hangzhou")
            .await
            .unwrap();
        assert_eq!(ids, ["kst-a", "kst-b", "kst-c"]);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_short_total_or_an_empty_page_ends_the_paging() {
        let server = MockServer::start().await;
        // TotalCount says 5, but the second page is empty: stop rather than loop.
        Mock::given(header("x-acs-action", "DescribeVSwitches"))
            .and(query_param("PageNumber", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "RequestId": "r", "TotalCount": 5,
                "VSwitches": {"VSwitch": [{"VSwitchId": "vsw-1", "VpcId": "vpc-1", "ZoneId": "z-a", "AvailableIpAddressCount": 7}]}
            })))
            .mount(&server)
            .await;
        Mock::given(header("x-acs-action", "DescribeVSwitches"))
            .and(query_param("PageNumber", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "RequestId": "r", "TotalCount": 5, "VSwitches": {"VSwitch": []}
            })))
            .mount(&server)
            .await;
        let got = client(&server.uri())
            .describe_vswitches("r", Some("vpc-1"))
            .await
            .unwrap();
        assert_eq!(
            got,
            [VSwitchInfo {
                id: "vsw-1".into(),
                vpc_id: "vpc-1".into(),
                zone_id: "z-a".into(),
                free_ips: 7
            }]
        );
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 2);
        assert!(reqs[0].url.query().unwrap().contains("VpcId=vpc-1"));
    }
}
