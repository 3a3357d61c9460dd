//! The page shell every UI page shares: landmarks (banner, navigation, main), a skip link,
//! the navigation with the current page marked, who is logged in, and the assets.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::context::PageContext;

/// The sections of the navigation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Repositories,
    Plans,
    Queue,
    Drills,
    Notifications,
    Peers,
    Users,
    Tokens,
    Audit,
    Settings,
    Account,
}

impl Section {
    fn link(self) -> (&'static str, &'static str) {
        match self {
            Section::Dashboard => ("/", "Dashboard"),
            Section::Repositories => ("/repositories", "Repositories"),
            Section::Plans => ("/plans", "Plans"),
            Section::Queue => ("/queue", "Queue"),
            Section::Drills => ("/drills", "Drills"),
            Section::Notifications => ("/notifications", "Notifications"),
            Section::Peers => ("/peers", "Peers"),
            Section::Users => ("/users", "Users"),
            Section::Tokens => ("/tokens", "API tokens"),
            Section::Audit => ("/audit", "Audit log"),
            Section::Settings => ("/settings", "Settings"),
            Section::Account => ("/account", "My account"),
        }
    }
}

/// A whole page.
pub fn page(context: &PageContext, section: Section, title: &str, body: Markup) -> Markup {
    let mut sections = vec![
        Section::Dashboard,
        Section::Repositories,
        Section::Plans,
        Section::Queue,
        Section::Drills,
        Section::Notifications,
        Section::Peers,
    ];
    if context.is_admin() {
        sections.extend([
            Section::Users,
            Section::Tokens,
            Section::Audit,
            Section::Settings,
        ]);
    }
    if context.user_name.is_some() {
        sections.push(Section::Account);
    }
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cairn" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.side role="banner" {
                    a.brand href="/" { "cairn" }
                    nav aria-label="Main" {
                        ul {
                            @for item in &sections {
                                @let (href, label) = item.link();
                                li {
                                    @if *item == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        @if let Some(name) = &context.user_name {
                            p { "Signed in as " strong { (name) } " (" (context.principal.role) ")" }
                            form.inline method="post" action="/logout" {
                                (context.csrf_field())
                                button.secondary type="submit" { "Sign out" }
                            }
                        } @else {
                            p { (context.principal.to_string()) }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    @if let Some((ok, text)) = &context.flash {
                        div class={ "flash " (if *ok { "ok" } else { "bad" }) } role="status" { (text) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page outside the shell (login, setup): no navigation.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cairn" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.bare {
                main.login id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An SVG the server made itself (a QR code), placed as markup.
pub fn trusted_svg(svg: &str) -> Markup {
    PreEscaped(svg.to_string())
}
