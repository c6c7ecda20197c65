//! Endpoints per product and region (the official SDKs' endpoint maps), and overrides.

use url::Url;

use super::Product;
use super::config::CloudConfig;

/// RDS regions served by the central endpoint `rds.aliyuncs.com` (`PY-RDS` 16.0.2 `client.py`).
const RDS_CENTRAL: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-hongkong",
    "ap-southeast-1",
    "us-west-1",
    "us-east-1",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-north-2-gov-1",
    "ap-northeast-2-pop",
    "cn-beijing-finance-1",
    "cn-beijing-finance-pop",
    "cn-beijing-gov-1",
    "cn-beijing-nu16-b01",
    "cn-edge-1",
    "cn-fujian",
    "cn-haidian-cm12-c01",
    "cn-hangzhou-bj-b01",
    "cn-hangzhou-internal-prod-1",
    "cn-hangzhou-internal-test-1",
    "cn-hangzhou-internal-test-2",
    "cn-hangzhou-internal-test-3",
    "cn-hangzhou-test-306",
    "cn-hongkong-finance-pop",
    "cn-qingdao-nebula",
    "cn-shanghai-et15-b01",
    "cn-shanghai-et2-b01",
    "cn-shanghai-inner",
    "cn-shanghai-internal-test-1",
    "cn-shenzhen-inner",
    "cn-shenzhen-st4-d01",
    "cn-shenzhen-su18-b01",
    "cn-wuhan",
    "cn-yushanfang",
    "cn-zhangbei",
    "cn-zhangbei-na61-b01",
    "cn-zhangjiakou-na62-a01",
    "cn-zhengzhou-nebula-1",
    "eu-west-1-oxs",
    "rus-west-1-pop",
];

/// DBS regions served by `dbs-api.cn-hangzhou.aliyuncs.com` (`PY-DBS` 1.0.3 `client.py`).
const DBS_HANGZHOU: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-hongkong",
    "us-west-1",
    "us-east-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
];

/// HBR (internal/special) regions served by `hbr.aliyuncs.com` (`PY-HBR` 2.7.1 `client.py`).
const HBR_CENTRAL: &[&str] = &[
    "ap-northeast-2-pop",
    "cn-beijing-finance-pop",
    "cn-beijing-gov-1",
    "cn-beijing-nu16-b01",
    "cn-edge-1",
    "cn-fujian",
    "cn-haidian-cm12-c01",
    "cn-hangzhou-bj-b01",
    "cn-hangzhou-internal-prod-1",
    "cn-hangzhou-internal-test-1",
    "cn-hangzhou-internal-test-2",
    "cn-hangzhou-internal-test-3",
    "cn-hangzhou-test-306",
    "cn-hongkong-finance-pop",
    "cn-huhehaote-nebula-1",
    "cn-qingdao-nebula",
    "cn-shanghai-et15-b01",
    "cn-shanghai-et2-b01",
    "cn-shanghai-inner",
    "cn-shanghai-internal-test-1",
    "cn-shenzhen-inner",
    "cn-shenzhen-st4-d01",
    "cn-shenzhen-su18-b01",
    "cn-wuhan",
    "cn-yushanfang",
    "cn-zhangbei",
    "cn-zhangbei-na61-b01",
    "cn-zhangjiakou-na62-a01",
    "cn-zhengzhou-nebula-1",
    "eu-west-1-oxs",
    "rus-west-1-pop",
];

/// The public host name of `product` in `region`.
///
/// * RDS: `rds.aliyuncs.com` for the central regions, `rds-vpc.cn-hangzhou-finance.aliyuncs.com`
///   for `cn-hangzhou-finance`, else `rds.<region>.aliyuncs.com`.
/// * DBS: `dbs-api.cn-hangzhou.aliyuncs.com` for the mapped regions (incl. the finance
///   regions), else `dbs-api.<region>.aliyuncs.com` (Terraform's rule).
/// * HBR: `hbr.aliyuncs.com` for a few special regions, else `hbr.<region>.aliyuncs.com`.
/// * STS: `sts.aliyuncs.com` when `region` is empty, else `sts.<region>.aliyuncs.com`.
pub fn default_host(product: Product, region: &str) -> String {
    let region = region.trim().to_ascii_lowercase();
    match product {
        Product::Rds => {
            if RDS_CENTRAL.contains(&region.as_str()) {
                "rds.aliyuncs.com".to_string()
            } else if region == "cn-hangzhou-finance" {
                "rds-vpc.cn-hangzhou-finance.aliyuncs.com".to_string()
            } else {
                format!("rds.{region}.aliyuncs.com")
            }
        }
        Product::Dbs => {
            if DBS_HANGZHOU.contains(&region.as_str()) {
                "dbs-api.cn-hangzhou.aliyuncs.com".to_string()
            } else {
                format!("dbs-api.{region}.aliyuncs.com")
            }
        }
        Product::Hbr => {
            if HBR_CENTRAL.contains(&region.as_str()) {
                "hbr.aliyuncs.com".to_string()
            } else {
                format!("hbr.{region}.aliyuncs.com")
            }
        }
        Product::Sts => {
            if region.is_empty() {
                "sts.aliyuncs.com".to_string()
            } else {
                format!("sts.{region}.aliyuncs.com")
            }
        }
    }
}

/// Whether `region` looks like an Alibaba region id (`[a-z0-9-]+`), so it is safe in a host name.
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The base URL for `product` in `region`: the per-product override, else the global
/// override, else `https://<default_host>/`.
pub fn base_url(config: &CloudConfig, product: Product, region: &str) -> Result<Url, String> {
    if let Some(url) = config.endpoints.get(&product) {
        return Ok(url.clone());
    }
    if let Some(url) = &config.endpoint_override {
        return Ok(url.clone());
    }
    if product != Product::Sts && !valid_region(region) {
        return Err(format!("invalid region id {region:?}"));
    }
    let host = default_host(product, region);
    Url::parse(&format!("https://{host}/"))
        .map_err(|e| format!("invalid endpoint for {product}: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rds_central_and_regional() {
        assert_eq!(
            default_host(Product::Rds, "cn-hangzhou"),
            "rds.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Rds, "ap-southeast-1"),
            "rds.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Rds, "eu-central-1"),
            "rds.eu-central-1.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Rds, "cn-hangzhou-finance"),
            "rds-vpc.cn-hangzhou-finance.aliyuncs.com"
        );
    }

    #[test]
    fn dbs_mapped_regions() {
        assert_eq!(
            default_host(Product::Dbs, "cn-beijing"),
            "dbs-api.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Dbs, "cn-shanghai-finance-1"),
            "dbs-api.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Dbs, "ap-southeast-1"),
            "dbs-api.ap-southeast-1.aliyuncs.com"
        );
        assert_eq!(
            default_host(Product::Dbs, "cn-chengdu"),
            "dbs-api.cn-chengdu.aliyuncs.com"
        );
    }

    #[test]
    fn hbr_and_sts() {
        assert_eq!(
            default_host(Product::Hbr, "cn-hangzhou"),
            "hbr.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(default_host(Product::Hbr, "cn-wuhan"), "hbr.aliyuncs.com");
        assert_eq!(default_host(Product::Rds, "cn-wuhan"), "rds.aliyuncs.com");
        assert_eq!(default_host(Product::Sts, ""), "sts.aliyuncs.com");
        assert_eq!(
            default_host(Product::Sts, "cn-beijing"),
            "sts.cn-beijing.aliyuncs.com"
        );
    }

    #[test]
    fn overrides_win_and_http_works() {
        let mut cfg = CloudConfig {
            endpoint_override: Some(Url::parse("http://127.0.0.1:8080").unwrap()),
            ..Default::default()
        };
        cfg.set_endpoint_flag("hbr=http://127.0.0.1:9090/").unwrap();
        assert_eq!(
            base_url(&cfg, Product::Rds, "cn-hangzhou")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            base_url(&cfg, Product::Hbr, "cn-hangzhou")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9090/"
        );
        assert!(cfg.set_endpoint_flag("ecs=http://x").is_err());
        assert!(cfg.set_endpoint_flag("rds=ftp://x").is_err());
        assert!(cfg.set_endpoint_flag("rds").is_err());
    }

    #[test]
    fn default_is_https_and_region_checked() {
        let cfg = CloudConfig::default();
        assert_eq!(
            base_url(&cfg, Product::Hbr, "cn-shanghai")
                .unwrap()
                .as_str(),
            "https://hbr.cn-shanghai.aliyuncs.com/"
        );
        assert!(base_url(&cfg, Product::Hbr, "evil.com/x").is_err());
        assert!(base_url(&cfg, Product::Hbr, "").is_err());
    }
}
