//! A Cisco IP phone, as far as the phone service can tell. It knows nothing of hotdesk: it
//! asks a URL, parses the one CiscoIPPhone object it gets, and acts on it as a person at the
//! phone would: fills a form's fields found by the names it shows, submits it by appending
//! the query string to the form's URL, follows a menu item or a soft key.
//!
//! Every object it receives is held to what a real phone accepts: HTTP 200 with
//! `text/xml; charset=utf-8`, at most 4,000 bytes, well-formed XML (so every `&` in a URL is
//! escaped), at most 5 input items and 100 menu items, and absolute URLs. It also keeps every
//! URL the service sent, so a test can look for what must never be in one.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One input field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub display_name: String,
    pub param: String,
    pub default_value: String,
    pub flags: String,
}

/// A key under the display, or an item of a menu: a name and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub url: String,
}

/// What the phone shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Input {
        title: String,
        prompt: String,
        url: String,
        fields: Vec<Field>,
    },
    Menu {
        title: String,
        prompt: String,
        items: Vec<Link>,
    },
    Text {
        title: String,
        text: String,
        soft_keys: Vec<Link>,
    },
}

pub struct Phone {
    client: reqwest::Client,
    /// The service URL as the administrator configured it, with the phone's name in place of
    /// `#DEVICENAME#`.
    service: String,
    pub screen: Option<Screen>,
    /// Every URL found in an object the service sent.
    pub urls_received: Vec<String>,
}

impl Phone {
    /// A phone named `device` whose Extension Mobility service is `base` + `path_and_query`
    /// (`/emapp/EMAppServlet?device=#DEVICENAME#`).
    pub fn new(client: &reqwest::Client, base: &str, path_and_query: &str, device: &str) -> Phone {
        Phone {
            client: client.clone(),
            service: format!("{base}{}", path_and_query.replace("#DEVICENAME#", device)),
            screen: None,
            urls_received: Vec::new(),
        }
    }

    /// The Services button, then the Extension Mobility entry.
    pub async fn open_service(&mut self) -> &Screen {
        let url = self.service.clone();
        self.open(&url).await
    }

    /// Ask `url` and show what comes back.
    pub async fn open(&mut self, url: &str) -> &Screen {
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "text/xml; charset=utf-8",
            "{url}"
        );
        let body = response.text().await.unwrap();
        assert!(
            body.len() <= 4000,
            "{} bytes is more than a phone takes: {body}",
            body.len()
        );
        let screen = parse(&body);
        match &screen {
            Screen::Input { url, fields, .. } => {
                assert!(fields.len() <= 5, "{body}");
                self.urls_received.push(url.clone());
            }
            Screen::Menu { items, .. } => {
                assert!(!items.is_empty() && items.len() <= 100, "{body}");
                self.urls_received
                    .extend(items.iter().map(|i| i.url.clone()));
            }
            Screen::Text { soft_keys, .. } => {
                assert!(soft_keys.len() <= 8, "{body}");
                self.urls_received
                    .extend(soft_keys.iter().map(|k| k.url.clone()));
            }
        }
        for url in &self.urls_received {
            assert!(url.len() <= 256, "longer than a phone follows: {url}");
            assert!(
                url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("SoftKey:"),
                "not an absolute URL: {url}"
            );
        }
        self.screen = Some(screen);
        self.screen.as_ref().unwrap()
    }

    /// Type `values` into the fields shown with those names (the others keep their default
    /// value) and press Submit: a GET of the form's URL with one parameter per field.
    pub async fn submit(&mut self, values: &[(&str, &str)]) -> &Screen {
        let Some(Screen::Input { url, fields, .. }) = self.screen.clone() else {
            panic!("no form on the screen: {:?}", self.screen)
        };
        for (name, _) in values {
            assert!(
                fields.iter().any(|f| f.display_name == *name),
                "no field {name:?} in {fields:?}"
            );
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|f| {
                let typed = values
                    .iter()
                    .find(|(name, _)| *name == f.display_name)
                    .map_or(f.default_value.as_str(), |(_, v)| v);
                (f.param.as_str(), typed)
            }))
            .finish();
        let separator = if url.contains('?') { '&' } else { '?' };
        self.open(&format!("{url}{separator}{query}")).await
    }

    /// Choose the menu item at `position` (from 1).
    pub async fn pick(&mut self, position: usize) -> &Screen {
        let url = self.menu_item(position).url;
        self.open(&url).await
    }

    /// The menu item at `position` (from 1) of the menu on the screen.
    pub fn menu_item(&self, position: usize) -> Link {
        let Some(Screen::Menu { items, .. }) = &self.screen else {
            panic!("no menu on the screen: {:?}", self.screen)
        };
        items[position - 1].clone()
    }

    /// Press the soft key named `name`.
    pub async fn press(&mut self, name: &str) -> &Screen {
        let Some(Screen::Text { soft_keys, .. }) = &self.screen else {
            panic!("no soft keys on the screen: {:?}", self.screen)
        };
        let key = soft_keys
            .iter()
            .find(|k| k.name == name)
            .unwrap_or_else(|| panic!("no soft key {name:?} in {soft_keys:?}"))
            .clone();
        assert!(
            !key.url.starts_with("SoftKey:"),
            "{name} is the phone's own key"
        );
        self.open(&key.url).await
    }

    /// The text of the message on the screen.
    pub fn text(&self) -> &str {
        match &self.screen {
            Some(Screen::Text { text, .. }) => text,
            other => panic!("no text on the screen: {other:?}"),
        }
    }

    /// The names of the soft keys on the screen.
    pub fn soft_keys(&self) -> Vec<&str> {
        match &self.screen {
            Some(Screen::Text { soft_keys, .. }) => {
                soft_keys.iter().map(|k| k.name.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Read a CiscoIPPhone object: root element, then the children a phone reads.
fn parse(body: &str) -> Screen {
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut root = String::new();
    let (mut title, mut prompt, mut url, mut text) =
        (String::new(), String::new(), String::new(), String::new());
    let mut fields: Vec<Field> = Vec::new();
    let mut links: Vec<Link> = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = e.name().into_inner().to_string();
                if path.is_empty() {
                    root = name.clone();
                }
                match name.as_str() {
                    "InputItem" => fields.push(Field {
                        display_name: String::new(),
                        param: String::new(),
                        default_value: String::new(),
                        flags: String::new(),
                    }),
                    "MenuItem" | "SoftKeyItem" => links.push(Link {
                        name: String::new(),
                        url: String::new(),
                    }),
                    _ => {}
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(event @ (Event::Text(_) | Event::GeneralRef(_))) => {
                let value = match event {
                    Event::Text(t) => t.xml10_content().into_owned(),
                    Event::GeneralRef(r) => match &*r {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        other => panic!("an unknown entity &{other}; in {body}"),
                    },
                    _ => unreachable!(),
                };
                let parent = path.get(path.len().saturating_sub(2)).map(String::as_str);
                match (parent, path.last().map(String::as_str)) {
                    (Some("InputItem"), Some(tag)) => {
                        let f = fields.last_mut().unwrap();
                        match tag {
                            "DisplayName" => f.display_name.push_str(&value),
                            "QueryStringParam" => f.param.push_str(&value),
                            "DefaultValue" => f.default_value.push_str(&value),
                            "InputFlags" => f.flags.push_str(&value),
                            _ => panic!("unknown InputItem child {tag}"),
                        }
                    }
                    (Some("MenuItem" | "SoftKeyItem"), Some(tag)) => {
                        let l = links.last_mut().unwrap();
                        match tag {
                            "Name" => l.name.push_str(&value),
                            "URL" => l.url.push_str(&value),
                            "Position" => {}
                            _ => panic!("unknown child {tag}"),
                        }
                    }
                    (_, Some("Title")) => title.push_str(&value),
                    (_, Some("Prompt")) => prompt.push_str(&value),
                    (_, Some("URL")) => url.push_str(&value),
                    (_, Some("Text")) => text.push_str(&value),
                    // The line break after the XML declaration.
                    (_, None) if value.trim().is_empty() => {}
                    (_, other) => panic!("unexpected text in {other:?}: {body}"),
                }
            }
            Ok(Event::Eof) => break,
            Ok(Event::Decl(_) | Event::Empty(_)) => {}
            Ok(other) => panic!("unexpected XML {other:?} in {body}"),
            Err(e) => panic!("not well-formed XML ({e}): {body}"),
        }
        buf.clear();
    }
    match root.as_str() {
        "CiscoIPPhoneInput" => Screen::Input {
            title,
            prompt,
            url,
            fields,
        },
        "CiscoIPPhoneMenu" => Screen::Menu {
            title,
            prompt,
            items: links,
        },
        "CiscoIPPhoneText" => Screen::Text {
            title,
            text,
            soft_keys: links,
        },
        other => panic!("not a CiscoIPPhone object: {other}: {body}"),
    }
}
