//! The world file: what exists before anything is bought (accounts, regions, VPCs, vSwitches).
//!
//! Parsed from TOML at the edge into these types; `backend` seeds an empty store from it.

use serde::{Deserialize, Serialize};

pub const DEFAULT_WORLD: &str = include_str!("default_world.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    pub regions: Vec<Region>,
    pub accounts: Vec<AccountSpec>,
    #[serde(default)]
    pub vpcs: Vec<VpcSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub id: String,
    /// Three letters used inside resource ids, as real ids carry them (`kst-hzz…`).
    pub code: String,
    /// Whether the region is inside the Chinese mainland (decides PrivateZone, S23).
    pub mainland: bool,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Site {
    China,
    International,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    pub id: String,
    pub name: String,
    pub site: Site,
    #[serde(default)]
    pub private_zone_activated: bool,
    /// Support entitlements ("contact us" in the seed): `high_performance`, `multi_instance`.
    #[serde(default)]
    pub entitlements: Vec<String>,
    pub access_keys: Vec<AccessKeySpec>,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeySpec {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeySpec")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    pub id: String,
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub cidr: String,
    #[serde(default)]
    pub vswitches: Vec<VSwitchSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitchSpec {
    pub id: String,
    pub zone: String,
    pub free_ips: u32,
}

impl World {
    pub fn default_world() -> World {
        World::parse(DEFAULT_WORLD).expect("the built-in world parses")
    }

    /// Parses and checks references (accounts, regions and zones that VPCs name must exist).
    pub fn parse(text: &str) -> anyhow::Result<World> {
        let world: World = toml::from_str(text)?;
        world.check()?;
        Ok(world)
    }

    fn check(&self) -> anyhow::Result<()> {
        for vpc in &self.vpcs {
            anyhow::ensure!(
                self.accounts.iter().any(|a| a.id == vpc.account),
                "vpc {} names unknown account {}",
                vpc.id,
                vpc.account
            );
            let region = self
                .regions
                .iter()
                .find(|r| r.id == vpc.region)
                .ok_or_else(|| {
                    anyhow::anyhow!("vpc {} names unknown region {}", vpc.id, vpc.region)
                })?;
            for vsw in &vpc.vswitches {
                anyhow::ensure!(
                    region.zones.contains(&vsw.zone),
                    "vswitch {} names zone {} which is not in region {}",
                    vsw.id,
                    vsw.zone,
                    region.id
                );
            }
        }
        let mut keys: Vec<&str> = self
            .accounts
            .iter()
            .flat_map(|a| a.access_keys.iter().map(|k| k.id.as_str()))
            .collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        anyhow::ensure!(before == keys.len(), "an access key id is listed twice");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_has_the_regions_and_sites_the_design_names() {
        let w = World::default_world();
        for id in [
            "cn-hangzhou",
            "cn-shanghai",
            "ap-southeast-1",
            "ap-southeast-6",
            "ap-southeast-7",
        ] {
            assert!(w.regions.iter().any(|r| r.id == id), "{id} missing");
        }
        let single: Vec<_> = w
            .regions
            .iter()
            .filter(|r| r.zones.len() == 1)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(single, ["ap-southeast-6", "ap-southeast-7"]);
        assert!(w.accounts.iter().any(|a| a.site == Site::China));
        assert!(w.accounts.iter().any(|a| a.site == Site::International));
        for a in &w.accounts {
            for r in &w.regions {
                let vpc = w
                    .vpcs
                    .iter()
                    .find(|v| v.account == a.id && v.region == r.id)
                    .expect("vpc");
                assert_eq!(vpc.vswitches.len(), r.zones.len());
            }
        }
    }

    #[test]
    fn world_with_vswitch_in_foreign_zone_is_refused() {
        let text =
            DEFAULT_WORLD.replacen("zone = \"cn-hangzhou-h\"", "zone = \"cn-shanghai-e\"", 1);
        let err = World::parse(&text).unwrap_err().to_string();
        assert!(err.contains("not in region cn-hangzhou"), "{err}");
    }
}
