//! The provider binary Terraform starts (`terraform-provider-kms`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // tonic (under tf-provider), rcgen and reqwest all use rustls with ring: install it as the
    // process default so rustls never has to guess between backends.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tf_provider::serve(
        "kms",
        terraform_provider_kms::provider::KmsProvider::default(),
    )
    .await
}
