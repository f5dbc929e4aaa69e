@requests
Feature: Requesting instances
  A request names a title, a software release, a software type, parameters,
  SLA conditions and a state. Its identity is the title within the
  requester's tree: the same request again changes nothing, a changed
  request changes the same instance, and only what changed is reconfigured.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 3 partitions
    And "alice" supplies "hello" on "COMP-1"

  @determinism
  Scenario: A request is placed, configured, started and publishes its connection
    When "alice" requests "web" of "hello"
    Then it succeeds
    And "web" is allocated on "COMP-1" partition "slappart0"
    When the nodes converge within 10 minutes
    Then "web" is reported started
    And "web" publishes a connection parameter "url"
    And node "COMP-1" runs "web"
    And node "COMP-1" configured 1 partition because "new"

  Scenario: The same request again changes nothing
    Given "alice" requests "web" of "hello" with:
      | param port | 8080 |
    And the nodes converge within 10 minutes
    When "alice" requests "web" of "hello" with:
      | param port | 8080 |
    And the nodes converge within 5 minutes
    Then "web" kept its guid and version
    And node "COMP-1" configured nothing
    And "alice" has 1 instance

  Scenario: Changing a parameter reconfigures that instance only
    Given "alice" requests "web" of "hello"
    And "alice" requests "db" of "hello"
    And the nodes converge within 10 minutes
    When "alice" changes parameter "port" of "web" to "9090"
    And the nodes converge within 5 minutes
    Then "web" kept its guid with a new version
    And node "COMP-1" configured 1 partition because "changed"
    And node "COMP-1" configured "web" 1 time
    And "web" publishes a connection parameter "url" containing "9090"
    And "db" kept its guid and version

  Scenario: The software type is carried to the node, and changing it reconfigures
    When "alice" requests "db" of "hello" with:
      | type | mariadb |
    Then "db" has software type "mariadb"
    When the nodes converge within 10 minutes
    And "alice" requests "db" of "hello" with:
      | type | postgresql |
    And the nodes converge within 5 minutes
    Then "db" has software type "postgresql"
    And node "COMP-1" configured "db" 1 time
    And "db" is reported started

  Scenario: A request without a software type gets the default type
    When "alice" requests "web" of "hello"
    Then "web" has software type "default"

  Scenario: A request in state stopped is configured but not started
    When "alice" requests "batch" of "hello" with:
      | state | stopped |
    And the nodes converge within 10 minutes
    Then "batch" is reported stopped
    And node "COMP-1" does not run "batch"
    And node "COMP-1" configured 1 partition because "new"

  Scenario Outline: A malformed request is refused with the reason, and nothing is created
    When "alice" requests "<title>" of "hello" with:
      | <field> | <value> |
    Then it fails as invalid input mentioning "<reason>"
    And "alice" has 0 instances
    And 3 partitions of "COMP-1" are free

    Examples:
      | title | field         | value   | reason        |
      |       | type          | default | title         |
      | web   | state         | running | state         |
      | web   | param a=b     | 1       | parameter key |
      | web   | sla max_price | cheap   | max_price     |
      | web   | sla min_ram   | -1      | min_ram       |
      | web   | sla regoin    | jp      | regoin        |

  Scenario: A request for a URL that is not absolute is refused with the reason
    When "alice" requests "web" of the URL "hello/software.cfg"
    Then it fails as invalid input mentioning "not absolute"
    And "alice" has 0 instances

  Scenario: A title requested as not shared cannot be requested again as shared
    Given "alice" requests "web" of "hello"
    When "alice" requests "web" of "hello" with:
      | shared | true |
    Then it fails as a conflict mentioning "shared"
    And "web" kept its guid and version

  Scenario: Destroying an instance that does not exist changes nothing
    When "alice" requests "ghost" of "hello" with:
      | state | destroyed |
    Then it succeeds
    And "alice" has 0 instances
    And 3 partitions of "COMP-1" are free
