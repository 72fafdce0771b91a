package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/inferiallm/orgserver/graph"
)

// smtpMailer sends invitation e-mails through an SMTP server given as
// smtp://user:pass@host:port?from=addr (STARTTLS when the server offers it; add
// starttls=required to insist) or smtps://... (TLS from the start).
type smtpMailer struct {
	addr, host    string
	implicitTLS   bool
	requireTLS    bool
	user, pass    string
	from          string
	skipTLSVerify bool
}

func newSMTPMailer(raw string) (*smtpMailer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP_URL must look like smtp://user:pass@host:587?from=noreply@example.com")
	}
	m := &smtpMailer{host: u.Hostname(), implicitTLS: u.Scheme == "smtps"}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "587"}[m.implicitTLS]
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	q := u.Query()
	m.from = q.Get("from")
	if m.from == "" {
		m.from = "noreply@" + m.host
	}
	m.requireTLS = q.Get("starttls") == "required"
	m.skipTLSVerify = q.Get("insecure_skip_verify") == "true"
	return m, nil
}

// SendInvitation sends one plain-text invitation.
func (m *smtpMailer) SendInvitation(ctx context.Context, msg graph.InvitationMail) error {
	return m.send(ctx, msg.To, invitationMessage(m.from, msg))
}

// SendPasswordReset sends a password reset link.
func (m *smtpMailer) SendPasswordReset(ctx context.Context, msg graph.PasswordResetMail) error {
	return m.send(ctx, msg.To, passwordResetMessage(m.from, msg))
}

// SendPasswordChanged tells the account holder that their password was reset.
func (m *smtpMailer) SendPasswordChanged(ctx context.Context, msg graph.PasswordChangedMail) error {
	return m.send(ctx, msg.To, passwordChangedMessage(m.from, msg))
}

// send delivers one rendered message to to.
func (m *smtpMailer) send(ctx context.Context, to, message string) error {
	tlsConfig := &tls.Config{ServerName: m.host, InsecureSkipVerify: m.skipTLSVerify} //nolint:gosec // opt-in for self-signed relays
	var (
		c   *smtp.Client
		err error
	)
	switch {
	case m.implicitTLS:
		c, err = smtp.DialTLS(m.addr, tlsConfig)
	case m.requireTLS:
		c, err = smtp.DialStartTLS(m.addr, tlsConfig)
	default:
		// Opportunistic: STARTTLS when the server offers it, plain on a relay that does not.
		c, err = smtp.Dial(m.addr)
		if err == nil {
			if ok, _ := c.Extension("STARTTLS"); ok {
				c.Close()
				c, err = smtp.DialStartTLS(m.addr, tlsConfig)
			}
		}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.CommandTimeout = time.Until(deadline)
		c.SubmissionTimeout = time.Until(deadline)
	}
	if m.user != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.user, m.pass)); err != nil {
			return err
		}
	}
	if err := c.SendMail(m.from, []string{to}, strings.NewReader(message)); err != nil {
		return err
	}
	return c.Quit()
}

// invitationMessage renders the plain-text e-mail, with CRLF line ends.
func invitationMessage(from string, msg graph.InvitationMail) string {
	who := "You have"
	if msg.InvitedBy != "" {
		who = msg.InvitedBy + " has"
	}
	subject := fmt.Sprintf("You are invited to join %s on InferiaLLM", msg.OrganizationName)
	body := fmt.Sprintf("Hello,\n\n%s invited you to join the organization %q on InferiaLLM as %s.\n\n"+
		"Accept the invitation here:\n\n  %s\n\nThe link works once and expires on %s.\n\n"+
		"If you did not expect this invitation, you can ignore this e-mail.\n",
		who, msg.OrganizationName, msg.Role, msg.Link, msg.ExpiresAt.UTC().Format("2 January 2006 at 15:04 UTC"))
	return plainMessage(from, msg.To, subject, body)
}

// passwordResetMessage renders the e-mail carrying a reset link.
func passwordResetMessage(from string, msg graph.PasswordResetMail) string {
	who := "Someone (hopefully you) asked"
	if msg.SentBy != "" {
		who = msg.SentBy + " sent you a link"
	}
	body := fmt.Sprintf("Hello,\n\n%s to reset the password of your InferiaLLM account %s.\n\n"+
		"Choose a new password here:\n\n  %s\n\nThe link works once and expires on %s. "+
		"Two-factor authentication, if you use it, stays on.\n\n"+
		"If you did not ask for this, you can ignore this e-mail: your password stays as it is.\n",
		who, msg.To, msg.Link, msg.ExpiresAt.UTC().Format("2 January 2006 at 15:04 UTC"))
	return plainMessage(from, msg.To, "Reset your InferiaLLM password", body)
}

// passwordChangedMessage renders the notice that a password was reset.
func passwordChangedMessage(from string, msg graph.PasswordChangedMail) string {
	body := fmt.Sprintf("Hello,\n\nThe password of your InferiaLLM account %s was reset on %s with a reset link, "+
		"and every session was signed out.\n\n"+
		"If this was not you, ask an administrator of your organization for help at once.\n",
		msg.To, msg.At.UTC().Format("2 January 2006 at 15:04 UTC"))
	return plainMessage(from, msg.To, "Your InferiaLLM password was changed", body)
}

// plainMessage renders a plain-text e-mail with CRLF line ends.
func plainMessage(from, to, subject, body string) string {
	headers := []string{
		"From: " + from,
		"To: " + to,
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Date: " + time.Now().UTC().Format(time.RFC1123Z),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
	}
	return strings.ReplaceAll(strings.Join(headers, "\n")+"\n\n"+body, "\n", "\r\n")
}
