//! Broadcast channels (iOS 18 Live Activities): create, read, delete and list an app's
//! channels on Apple's channel-management API, with the credentials of a [`Builder`].
//!
//! Apple serves it on its own hosts: `api-manage-broadcast.push.apple.com:2196` (production)
//! and `api-manage-broadcast.sandbox.push.apple.com:2195` (development);
//! [`Builder::build_channels`] picks the one matching [`Builder::production`] /
//! [`Builder::sandbox`], and a [`Builder::gateway`] address is used as given (the HTTP/2 mock
//! serves both APIs on one listener). Calls are blocking, each within the connect timeout
//! (connect, handshake and answer together); send broadcasts with
//! [`Apns::send_broadcast`](crate::Apns::send_broadcast).
//!
//! ```no_run
//! use apns::channels::MessageStoragePolicy;
//! use apns::Apns;
//!
//! let builder = Apns::builder().sandbox().token_key("AuthKey_ABC123DEFG.p8", "ABC123DEFG", "DEF123GHIJ");
//! let mut channels = builder.topic("com.example.MyApp").build_channels()?;
//! let channel = channels.create(MessageStoragePolicy::NO_STORAGE)?;
//! println!("created {channel}; all: {:?}", channels.list()?);
//! channels.delete(&channel)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use apns_io::channels::{ChannelAuth, ChannelClient};
use apns_io::Endpoint;
use apns_proto::http2::{BundleId, ChannelId};

use crate::builder::Checked;
use crate::{Builder, Error};

pub use apns_io::channels::ChannelError;
pub use apns_proto::http2::{ChannelConfig, MessageStoragePolicy};

/// A client of Apple's channel-management API for one app: [`Builder::build_channels`].
#[derive(Debug)]
pub struct Channels {
    client: ChannelClient,
    bundle_id: BundleId,
}

impl Channels {
    /// The app whose channels these are ([`Builder::topic`]).
    pub fn bundle_id(&self) -> &BundleId {
        &self.bundle_id
    }

    /// Creates a channel with this storage policy; returns its id, to share with the devices
    /// that subscribe to it.
    pub fn create(&mut self, policy: MessageStoragePolicy) -> Result<ChannelId, ChannelError> {
        self.client.create(&self.bundle_id, policy)
    }

    /// A channel's configuration.
    pub fn read(&mut self, channel: &ChannelId) -> Result<ChannelConfig, ChannelError> {
        self.client.read(&self.bundle_id, channel)
    }

    /// Deletes a channel (Apple allows 10,000 per app and environment: delete those done with).
    pub fn delete(&mut self, channel: &ChannelId) -> Result<(), ChannelError> {
        self.client.delete(&self.bundle_id, channel)
    }

    /// Every channel of the app.
    pub fn list(&mut self) -> Result<Vec<ChannelId>, ChannelError> {
        self.client.list(&self.bundle_id)
    }
}

impl Builder {
    /// A client of the channel-management API with this builder's credentials (token or
    /// certificate), trust options and default topic (required: the app whose channels these
    /// are, [`Error::NoTopic`] otherwise); the environment's management host for
    /// [`production`](Self::production) and [`sandbox`](Self::sandbox), or the
    /// [`gateway`](Self::gateway) address as given.
    pub fn build_channels(mut self) -> Result<Channels, Error> {
        let (timeout, seed) = self.timeout_and_seed();
        let Checked { signer, tls, endpoint, bundle_id } = self.check()?;
        let bundle_id = bundle_id.ok_or(Error::NoTopic)?;
        let endpoint = if endpoint == Endpoint::api() {
            Endpoint::channels()
        } else if endpoint == Endpoint::api_sandbox() {
            Endpoint::channels_sandbox()
        } else {
            endpoint
        };
        let auth = match signer {
            Some(signer) => ChannelAuth::Token(signer),
            None => ChannelAuth::Certificate,
        };
        let client = ChannelClient::new(endpoint, tls, auth, seed)
            .map_err(|error| Error::Channels(Box::new(error)))?
            .timeout(timeout);
        Ok(Channels { client, bundle_id })
    }
}
