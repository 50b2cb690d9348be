//! Outgoing e-mail (invitations now; notifications and reports later) through the SMTP server
//! of `smtp_url`. Without it, nothing is sent and the console shows links to pass on by hand.

use anyhow::Context as _;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;

/// A configured SMTP sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// The sender of `smtp_url`, if set (`smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://user:password@host:465`).
    ///
    /// # Errors
    /// When the URL or the sender address cannot be used.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.smtp_url.as_deref() else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("smtp_url cannot be used")?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = settings.mail_from.parse::<Mailbox>().context("mail_from is not an e-mail address")?;
        Ok(Some(Self { transport, from }))
    }

    /// Sends one plain-text message.
    ///
    /// # Errors
    /// When the address is bad or the server refuses or cannot be reached.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let to = to.parse::<Mailbox>().with_context(|| format!("{to} is not an e-mail address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            // Base64 always: Chinese text, and links never broken by soft line breaks.
            .body(
                Body::new_with_encoding(body, ContentTransferEncoding::Base64)
                    .map_err(|_| anyhow::anyhow!("cannot encode the body"))?,
            )
            .context("cannot build the message")?;
        self.transport.send(message).await.context("the SMTP server did not take the message")?;
        Ok(())
    }
}

/// The invitation of a new tenant's first administrator.
#[must_use]
pub fn invitation_text(tenant_name: &str, username: &str, link: &str, expires: &str) -> String {
    format!(
        "您好：\n\n\
         {tenant_name}已在重要产品追溯管理平台开通，您被指定为本单位平台的首位管理员，用户名为 {username}。\n\n\
         请在 {expires} 前打开下面的链接设置登录密码（链接只能使用一次）：\n\n{link}\n\n\
         设置密码后即可登录平台，为本单位创建用户、分配角色和接入密钥。\n\
         如果您不知道这件事，请忽略本邮件，并告知上级单位。\n\n\
         —— 重要产品追溯管理平台（此邮件由系统自动发送，请勿回复）\n"
    )
}
