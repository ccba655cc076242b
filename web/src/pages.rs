//! The frame every HTML page of the web tier shares: `<head>` (charset, title, the one
//! style sheet, an empty icon so that browsers ask for no `/favicon.ico`), then the body.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use relink_domain::PillTone;

/// The dashboard's style sheet: cards, the pill (with a spinner while linking), the ⋮
/// menu.
const STYLE: &str = r#"
[hidden]{display:none!important}
body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#1f2328}
.error{color:#b00020}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:1rem}
.card{border:1px solid #d0d7de;border-radius:.5rem;padding:1rem;background:#fff}
.card.focus{border-color:#0969da;box-shadow:0 0 0 3px #0969da33}
.card header{display:flex;justify-content:space-between;align-items:start;gap:.5rem}
.card h2{font-size:1.1rem;margin:0}
.meta,.twin{color:#57606a;font-size:.9rem;margin:.3rem 0}
.twin{color:#9a6700}
.pill{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;font-size:.9rem}
.pill[data-state=linking]::before,.pill[data-state=linking_slow]::before{content:"";display:inline-block;
 width:.7em;height:.7em;margin-right:.4em;border:2px solid #fff;border-right-color:transparent;
 border-radius:50%;vertical-align:-.1em;animation:spin 1s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
.menu{position:relative}
.menu summary{list-style:none;cursor:pointer;padding:0 .5rem;font-size:1.2rem;border-radius:.3rem}
.menu summary::-webkit-details-marker{display:none}
.menu summary:focus-visible{outline:2px solid #0969da}
.menu .items{position:absolute;right:0;z-index:1;background:#fff;border:1px solid #d0d7de;
 border-radius:.4rem;padding:.3rem;display:flex;flex-direction:column;gap:.2rem;min-width:9rem}
.menu .items button{width:100%;text-align:left}
.campaigns{list-style:none;padding:0;margin:.8rem 0 0}
.campaigns li{border-top:1px solid #eaeef2;padding:.4rem 0}
.campaigns .why{display:block;color:#57606a;font-size:.9rem}
.campaigns form{display:inline}
[role=status]{background:#ddf4ff;border:1px solid #54aeff;border-radius:.4rem;padding:.5rem .8rem}
"#;

/// A whole page: `title` in `<title>`, `body` inside `<body>`.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// The CSS colour of a pill tone.
pub(crate) fn colour(tone: PillTone) -> &'static str {
    match tone {
        PillTone::Green => "#1a7f37",
        PillTone::Blue => "#0969da",
        PillTone::Amber => "#9a6700",
        PillTone::Grey => "#6e7781",
    }
}
